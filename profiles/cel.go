package profiles

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"corral.io/corral/api/v1alpha1"
)

// CostLimit bounds the work one match expression may do on one inventory
// (cel.CostLimit: roughly one unit per operation and per list element
// visited). Rules over the largest inventories cost a few hundred; a rule
// that exceeds the limit fails with an error instead of hanging the
// controller.
const CostLimit = 100_000

// maxMatchLen is the longest match expression accepted.
const maxMatchLen = 4096

// newEnv returns the CEL environment match expressions are compiled in:
// the variable inventory (the Inventory as a map with its JSON field names,
// every field present), the constants KiB, MiB, GiB and TiB, the standard
// library with the strings extension and optional values (m[?"key"]), and
// numeric comparisons across int, uint and double.
func newEnv() (*cel.Env, error) {
	env, err := cel.NewEnv(
		cel.Variable("inventory", cel.MapType(cel.StringType, cel.DynType)),
		cel.Constant("KiB", cel.IntType, types.Int(1<<10)),
		cel.Constant("MiB", cel.IntType, types.Int(1<<20)),
		cel.Constant("GiB", cel.IntType, types.Int(1<<30)),
		cel.Constant("TiB", cel.IntType, types.Int(1<<40)),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxMatchLen),
		cel.ParserRecursionLimit(64),
		ext.Strings(),
		cel.OptionalTypes(),
	)
	if err != nil {
		return nil, fmt.Errorf("create CEL environment: %w", err)
	}
	return env, nil
}

// exprError is a compile error at a position inside the expression.
type exprError struct {
	line, col int // 1-based, within the expression
	msg       string
}

// compileMatch compiles a match expression and checks that it is boolean.
func compileMatch(env *cel.Env, expr string) (cel.Program, []exprError) {
	if len(expr) > maxMatchLen {
		return nil, []exprError{{1, 1, fmt.Sprintf("is %d characters long; at most %d", len(expr), maxMatchLen)}}
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		var errs []exprError
		for _, e := range iss.Errors() {
			errs = append(errs, exprError{e.Location.Line(), e.Location.Column() + 1, e.Message})
		}
		return nil, errs
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, []exprError{{1, 1, fmt.Sprintf("must be a bool expression, but is of type %s; compare the value, e.g. `... == \"x\"` or `... > 0`", ast.OutputType())}}
	}
	if errs := checkFields(ast); len(errs) > 0 {
		return nil, errs
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, []exprError{{1, 1, err.Error()}}
	}
	return prg, nil
}

// evalMatch runs a compiled match expression over an inventory map.
func evalMatch(prg cel.Program, inv map[string]any) (bool, error) {
	out, _, err := prg.Eval(map[string]any{"inventory": inv})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type())
	}
	return b, nil
}

// InventoryMap returns the inventory as match expressions see it: the JSON
// field names of api/v1alpha1, with every field present (omitempty is
// ignored), nil lists as empty lists, absent objects (nvidia, a disk's
// filesystem) as objects of empty fields, integers as int and fractions as
// double.
func InventoryMap(inv *v1alpha1.Inventory) map[string]any {
	if inv == nil {
		inv = &v1alpha1.Inventory{}
	}
	return toCEL(reflect.ValueOf(*inv)).(map[string]any)
}

// toCEL converts a value of the api types to CEL-friendly Go values.
func toCEL(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return toCEL(reflect.Zero(v.Type().Elem()))
		}
		return toCEL(v.Elem())
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name := jsonName(f)
			if name == "" {
				continue
			}
			m[name] = toCEL(v.Field(i))
		}
		return m
	case reflect.Slice:
		l := make([]any, v.Len())
		for i := range l {
			l[i] = toCEL(v.Index(i))
		}
		return l
	case reflect.Map:
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()] = toCEL(it.Value())
		}
		return m
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return int64(math.MaxInt64)
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return nil
}

// jsonName is a struct field's JSON name, "" for fields JSON skips.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

// checkFields reports selections of fields the Inventory does not have, such
// as inventory.memory.totalByte or g.vendr inside gpus.exists(g, …). The
// expression is typed dyn to CEL, so without this check a misspelt field
// would only fail at evaluation, on every node.
func checkFields(ast *cel.Ast) []exprError {
	native := ast.NativeRep()
	c := fieldChecker{info: native.SourceInfo()}
	c.typeOf(native.Expr(), map[string]reflect.Type{"inventory": reflect.TypeFor[v1alpha1.Inventory]()})
	return c.errs
}

// fieldChecker walks an expression, tracking the api type of each
// sub-expression where it is known.
type fieldChecker struct {
	info *celast.SourceInfo
	errs []exprError
}

// typeOf returns the api type e evaluates to, nil when unknown, and records
// unknown fields.
func (c *fieldChecker) typeOf(e celast.Expr, scope map[string]reflect.Type) reflect.Type {
	switch e.Kind() {
	case celast.IdentKind:
		return scope[e.AsIdent()]
	case celast.SelectKind:
		s := e.AsSelect()
		t := deref(c.typeOf(s.Operand(), scope))
		switch {
		case t == nil:
			return nil
		case t.Kind() == reflect.Map:
			return t.Elem()
		case t.Kind() != reflect.Struct:
			return nil
		}
		var names []string
		for i := range t.NumField() {
			name := jsonName(t.Field(i))
			if name == s.FieldName() {
				return t.Field(i).Type
			}
			if name != "" {
				names = append(names, name)
			}
		}
		loc := c.info.GetStartLocation(e.ID())
		c.errs = append(c.errs, exprError{loc.Line(), loc.Column() + 1,
			fmt.Sprintf("%s has no field %q; its fields are %s (docs/inventory.md)", t.Name(), s.FieldName(), strings.Join(names, ", "))})
		return nil
	case celast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			c.typeOf(call.Target(), scope)
		}
		var args []reflect.Type
		for _, a := range call.Args() {
			args = append(args, c.typeOf(a, scope))
		}
		if call.FunctionName() == "_[_]" && len(args) == 2 {
			if t := deref(args[0]); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
				return t.Elem()
			}
		}
		return nil
	case celast.ComprehensionKind:
		cx := e.AsComprehension()
		rng := deref(c.typeOf(cx.IterRange(), scope))
		c.typeOf(cx.AccuInit(), scope)
		inner := make(map[string]reflect.Type, len(scope)+3)
		for k, v := range scope {
			inner[k] = v
		}
		inner[cx.IterVar()] = nil
		if cx.HasIterVar2() {
			inner[cx.IterVar2()] = nil
		}
		if rng != nil {
			switch {
			case rng.Kind() == reflect.Slice && cx.HasIterVar2():
				inner[cx.IterVar2()] = rng.Elem()
			case rng.Kind() == reflect.Slice:
				inner[cx.IterVar()] = rng.Elem()
			case rng.Kind() == reflect.Map && cx.HasIterVar2():
				inner[cx.IterVar2()] = rng.Elem()
			}
		}
		inner[cx.AccuVar()] = nil
		c.typeOf(cx.LoopCondition(), inner)
		c.typeOf(cx.LoopStep(), inner)
		c.typeOf(cx.Result(), inner)
		return nil
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			c.typeOf(el, scope)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			c.typeOf(en.AsMapEntry().Key(), scope)
			c.typeOf(en.AsMapEntry().Value(), scope)
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			c.typeOf(f.AsStructField().Value(), scope)
		}
	}
	return nil
}

// deref strips pointer types.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
