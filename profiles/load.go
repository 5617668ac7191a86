package profiles

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest profile file read.
const MaxFileSize = 1 << 20

// defaultsFS holds the shipped profiles.
//
//go:embed defaults/*.yaml
var defaultsFS embed.FS

// Error is one problem found in a profile file. Parse and the loaders
// return all problems of a file joined with errors.Join; use errors.As to
// get the first, or Errors to get all.
type Error struct {
	// File is the file name as given.
	File string
	// Line is the 1-based line in the file; 0 when not known.
	Line int
	// Field is the path of the field, e.g. "disks[1].minSize"; empty for
	// problems with the document as a whole.
	Field string
	// Msg says what is wrong and, where it can, what would be right.
	Msg string
}

// Error returns "file:line: field: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error in err (which may be joined or wrapped).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Defaults returns the shipped profiles (profiles/defaults/*.yaml):
// gpu-worker, storage and compute.
func Defaults() ([]*Profile, error) {
	entries, err := defaultsFS.ReadDir("defaults")
	if err != nil {
		return nil, fmt.Errorf("read shipped profiles: %w", err)
	}
	var all []*Profile
	var errs []error
	for _, e := range entries {
		name := "defaults/" + e.Name()
		data, err := defaultsFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read shipped profile %s: %w", name, err)
		}
		ps, err := Parse(name, data)
		errs = append(errs, err)
		all = append(all, ps...)
	}
	errs = append(errs, CheckUnique(all))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return all, nil
}

// LoadFile reads and validates the profiles in one file.
func LoadFile(path string) ([]*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read profiles from %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	return Parse(path, data)
}

// LoadDir reads every *.yaml and *.yml file in dir (not its
// subdirectories), in name order, and checks that the names are unique.
func LoadDir(dir string) ([]*Profile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read profile directory: %w", err)
	}
	var all []*Profile
	var errs []error
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		ps, err := LoadFile(filepath.Join(dir, e.Name()))
		errs = append(errs, err)
		all = append(all, ps...)
	}
	errs = append(errs, CheckUnique(all))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return all, nil
}

// CheckUnique returns an error for every profile name used more than once.
func CheckUnique(ps []*Profile) error {
	seen := map[string]*Profile{}
	var errs []error
	for _, p := range ps {
		if first, ok := seen[p.Name]; ok {
			errs = append(errs, &Error{File: p.source.File, Line: p.source.Line, Field: "name",
				Msg: fmt.Sprintf("profile %q is already defined at %s; profile names must be unique", p.Name, first.source)})
			continue
		}
		seen[p.Name] = p
	}
	return errors.Join(errs...)
}

// Merge returns base with every profile of override added; an override
// profile replaces the base profile of the same name (so a directory can
// redefine a shipped default). The result is sorted by precedence.
func Merge(base, override []*Profile) []*Profile {
	names := map[string]bool{}
	for _, p := range override {
		names[p.Name] = true
	}
	var out []*Profile
	for _, p := range base {
		if !names[p.Name] {
			out = append(out, p)
		}
	}
	out = append(out, override...)
	sortByPrecedence(out)
	return out
}

// sortByPrecedence sorts profiles by priority, highest first, then by name.
func sortByPrecedence(ps []*Profile) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Priority != ps[j].Priority {
			return ps[i].Priority > ps[j].Priority
		}
		return ps[i].Name < ps[j].Name
	})
}

// Parse reads and validates every profile document in data; file names the
// source in errors. Documents are separated by "---"; empty documents are
// skipped. Unknown fields are errors. All problems are reported, each as an
// *Error with file, line and field.
func Parse(file string, data []byte) ([]*Profile, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	// Two decoders over the same bytes walk the same documents: strict
	// decodes the struct and rejects unknown fields, nodes keeps the
	// positions for the errors found after decoding.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Profile
	var errs []error
	for {
		var doc yaml.Node
		err := nodes.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(file, err))
			break
		}
		var p Profile
		serr := strict.Decode(&p)
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			errs = append(errs, &Error{File: file, Line: root.Line, Msg: "a profile must be a mapping (apiVersion, kind, name, …)"})
			continue
		}
		if serr != nil {
			errs = append(errs, decodeErrors(file, root, serr)...)
			if !onlyUnknownFields(serr) {
				// a field failed to decode: checking the rest would
				// report its zero value as a second, misleading error.
				continue
			}
		}
		p.source = Source{File: file, Line: root.Line}
		if perrs := p.compile(env, docPos{file: file, root: root}); len(perrs) > 0 || serr != nil {
			errs = append(errs, perrs...)
			continue
		}
		out = append(out, &p)
	}
	errs = append(errs, CheckUnique(out))
	// Report in file order, as an editor shows the file.
	sort.SliceStable(errs, func(i, j int) bool { return errLine(errs[i]) < errLine(errs[j]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// errLine is the line of an *Error, 0 for anything else.
func errLine(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}

// yamlLine splits yaml.v3's "line N: message" (with or without a "yaml: "
// prefix).
func yamlLine(s string) (line int, msg string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimPrefix(s, "yaml: "), "line ")
	if !found {
		return 0, "", false
	}
	num, msg, found := strings.Cut(rest, ": ")
	line, err := strconv.Atoi(num)
	if !found || err != nil {
		return 0, "", false
	}
	return line, msg, true
}

// parserProblem reports whether msg is one of yaml.v3's parser errors
// (parserc.go), whose line numbers it reports 0-based; its scanner's are 1-based.
func parserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// syntaxError turns a YAML syntax error into an *Error.
func syntaxError(file string, err error) error {
	msg := err.Error()
	if line, m, ok := yamlLine(msg); ok {
		if parserProblem(m) {
			line++
		}
		return &Error{File: file, Line: line, Msg: "YAML syntax: " + m}
	}
	return &Error{File: file, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// unknownField returns X of yaml.v3's "field X not found in type T".
func unknownField(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "field ")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, " not found in type ")
	return name, ok && name != "" && !strings.Contains(name, " ")
}

// decodeErrors turns the strict decoder's errors into *Errors naming the
// field, and for an unknown field the fields allowed there.
func decodeErrors(file string, root *yaml.Node, err error) []error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []error{&Error{File: file, Line: root.Line, Msg: err.Error()}}
	}
	var out []error
	for _, s := range te.Errors {
		line, msg, ok := yamlLine(s)
		if !ok {
			out = append(out, &Error{File: file, Line: root.Line, Msg: s})
			continue
		}
		e := &Error{File: file, Line: line, Msg: msg}
		if name, ok := unknownField(msg); ok {
			path := findKey(root, nil, line, name)
			if path != nil {
				e.Field = formatPath(path)
				known := fieldsAt(path[:len(path)-1])
				e.Msg = fmt.Sprintf("unknown field %q", name)
				if len(known) > 0 {
					e.Msg += "; known fields here: " + strings.Join(known, ", ")
				}
			}
		} else if path := findValue(root, nil, line); path != nil {
			e.Field = formatPath(path)
			e.Msg = humanizeTypeError(e.Msg)
		}
		out = append(out, e)
	}
	return out
}

// onlyUnknownFields reports whether every problem of a strict decode is an
// unknown field, so that the rest of the document was decoded.
func onlyUnknownFields(err error) bool {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return false
	}
	for _, s := range te.Errors {
		_, msg, ok := yamlLine(s)
		if !ok {
			return false
		}
		if _, ok := unknownField(msg); !ok {
			return false
		}
	}
	return true
}

// humanizeTypeError rewrites yaml.v3's "cannot unmarshal !!seq into
// map[string]string" in the words of the documentation.
func humanizeTypeError(msg string) string {
	return strings.NewReplacer(
		"!!str", "string", "!!int", "integer", "!!bool", "boolean", "!!float", "number",
		"!!seq", "a list", "!!map", "a mapping", "!!null", "null",
		"into map[string]string", "into a mapping of strings",
		"into []string", "into a list of strings",
		"into []profiles.DiskSelector", "into a list of disk selectors",
		"into profiles.DiskSelector", "into a disk selector (a mapping)",
		"into profiles.Selectors", "into selectors (a mapping)",
		"into *bool", "into true or false", "into bool", "into true or false",
		"into int", "into an integer",
	).Replace(msg)
}

// findKey returns the path of the mapping key name on line.
func findKey(n *yaml.Node, path []any, line int, name string) []any {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(slices.Clone(path), k.Value)
			if k.Line == line && k.Value == name {
				return p
			}
			if r := findKey(v, p, line, name); r != nil {
				return r
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if r := findKey(c, append(slices.Clone(path), i), line, name); r != nil {
				return r
			}
		}
	}
	return nil
}

// findValue returns the path of the innermost value on line; a flow
// collection ([a, b] or {a: b}) counts as one value.
func findValue(n *yaml.Node, path []any, line int) []any {
	var best []any
	if n.Style&yaml.FlowStyle != 0 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(slices.Clone(path), k.Value)
			if v.Line == line || k.Line == line {
				best = p
			}
			if r := findValue(v, p, line); r != nil {
				return r
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := append(slices.Clone(path), i)
			if c.Line == line {
				best = p
			}
			if r := findValue(c, p, line); r != nil {
				return r
			}
		}
	}
	return best
}

// fieldsAt lists the YAML field names of the Profile struct at path.
func fieldsAt(path []any) []string {
	t := reflect.TypeFor[Profile]()
	for _, el := range path {
		t = deref(t)
		switch {
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			name, _ := el.(string)
			f, ok := yamlField(t, name)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// yamlField finds the struct field with YAML name name.
func yamlField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// yamlName is a struct field's YAML name, "" if it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// formatPath writes a path as disks[1].minSize or labels["a/b"].
func formatPath(path []any) string {
	var b strings.Builder
	for i, el := range path {
		switch v := el.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if i > 0 {
				b.WriteString(".")
			}
			b.WriteString(v)
		case mapKey:
			b.WriteString("[" + strconv.Quote(string(v)) + "]")
		}
	}
	return b.String()
}

// mapKey is a path element naming a key of a map field (labels).
type mapKey string

// docPos locates fields of one document for error messages.
type docPos struct {
	file string
	root *yaml.Node
}

// node returns the value node at path (a mapKey element returns the key
// node itself), or nil.
func (d docPos) node(path ...any) *yaml.Node {
	n := d.root
	for _, el := range path {
		if n == nil {
			return nil
		}
		switch v := el.(type) {
		case string, mapKey:
			name := fmt.Sprint(v)
			var next *yaml.Node
			for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					next = n.Content[i+1]
					if _, isKey := v.(mapKey); isKey {
						next = n.Content[i]
					}
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || v >= len(n.Content) {
				return nil
			}
			n = n.Content[v]
		}
	}
	return n
}

// errorf returns an *Error at the field path.
func (d docPos) errorf(path []any, format string, args ...any) *Error {
	e := &Error{File: d.file, Line: d.root.Line, Field: formatPath(path), Msg: fmt.Sprintf(format, args...)}
	if n := d.node(path...); n != nil {
		e.Line = n.Line
	}
	return e
}

// compile validates p and prepares it for Select and Resolve.
func (p *Profile) compile(env *cel.Env, d docPos) []error {
	var errs []error
	add := func(e *Error) { errs = append(errs, e) }
	at := func(path ...any) []any { return path }

	switch p.APIVersion {
	case APIVersion:
	case "":
		add(d.errorf(nil, "apiVersion is missing; want apiVersion: %s", APIVersion))
	default:
		add(d.errorf(at("apiVersion"), "is %q; want %s", p.APIVersion, APIVersion))
	}
	switch p.Kind {
	case Kind:
	case "":
		add(d.errorf(nil, "kind is missing; want kind: %s", Kind))
	default:
		add(d.errorf(at("kind"), "is %q; want %s", p.Kind, Kind))
	}
	if p.Name == "" {
		add(d.errorf(nil, "name is missing; every profile needs a DNS-label name such as gpu-worker"))
	} else if err := checkDNSLabel(p.Name); err != nil {
		add(d.errorf(at("name"), "%v", err))
	}

	if strings.TrimSpace(p.Match) != "" {
		prg, cerrs := compileMatch(env, p.Match)
		for _, ce := range cerrs {
			add(matchError(d, ce))
		}
		p.program = prg
	}

	sel := []struct {
		name     string
		patterns []string
	}{
		{"macs", p.Selectors.MACs}, {"serials", p.Selectors.Serials}, {"uuids", p.Selectors.UUIDs},
		{"nodeIDs", p.Selectors.NodeIDs}, {"hostnames", p.Selectors.Hostnames},
	}
	for _, s := range sel {
		for i, pat := range s.patterns {
			if err := checkGlob(pat); err != nil {
				add(d.errorf(at("selectors", s.name, i), "%v", err))
			}
		}
	}

	if p.HostnameTemplate != "" {
		t, err := parseHostnameTemplate(p.Name, p.HostnameTemplate)
		if err != nil {
			add(d.errorf(at("hostnameTemplate"), "%v", err))
		}
		p.hostname = t
	}

	if p.Role != "" {
		if err := checkDNSLabel(p.Role); err != nil {
			add(d.errorf(at("role"), "%v", err))
		}
	}

	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := at("labels", mapKey(k))
		switch {
		case k == strings.TrimSuffix(RoleLabelPrefix, "/") || strings.HasPrefix(k, RoleLabelPrefix):
			add(d.errorf(path, "%s labels are set only through role (e.g. role: %s)", RoleLabelPrefix+"*", strings.TrimPrefix(k, RoleLabelPrefix)))
		case k == ProfileLabel:
			add(d.errorf(path, "%s is set by Corral to the profile's name", ProfileLabel))
		default:
			if err := checkLabelKey(k); err != nil {
				add(d.errorf(path, "%v", err))
			} else if err := checkLabelValue(p.Labels[k]); err != nil {
				add(d.errorf(path, "%v", err))
			}
		}
	}

	seenTaint := map[string]bool{}
	for i, s := range p.Taints {
		t, err := ParseTaint(s)
		if err != nil {
			add(d.errorf(at("taints", i), "%v", err))
			continue
		}
		if seenTaint[t.Key+":"+t.Effect] {
			add(d.errorf(at("taints", i), "taint %s:%s is given twice", t.Key, t.Effect))
			continue
		}
		seenTaint[t.Key+":"+t.Effect] = true
		p.taints = append(p.taints, t)
	}

	for i, a := range p.KernelArgs {
		if err := checkKernelArg(a); err != nil {
			add(d.errorf(at("kernelArgs", i), "%v", err))
		}
	}
	for i, a := range p.K3sArgs {
		if err := checkK3sArg(a); err != nil {
			add(d.errorf(at("k3sArgs", i), "%v", err))
		}
	}
	if p.ImageVersion != "" && !isImageVersion(p.ImageVersion) {
		add(d.errorf(at("imageVersion"), "%q: want at most 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", p.ImageVersion))
	}

	p.compiled = true
	names := map[string]int{}
	for i, s := range p.Disks {
		r, derrs := compileDiskSelector(i, s)
		for _, de := range derrs {
			add(d.errorf(append(at("disks", i), de.field...), "%s", de.msg))
		}
		if first, dup := names[r.name]; dup {
			add(d.errorf(at("disks", i, "name"), "%q is also the name of disks[%d]", r.name, first))
		}
		names[r.name] = i
		p.disks = append(p.disks, r)
	}
	return errs
}

// matchError places a CEL compile error on the file's line.
func matchError(d docPos, ce exprError) *Error {
	e := d.errorf([]any{"match"}, "")
	n := d.node("match")
	line := ce.line
	if n != nil {
		switch n.Style {
		case yaml.LiteralStyle, yaml.FoldedStyle:
			// the expression starts on the line after "match: |".
			e.Line = n.Line + line
		default:
			e.Line = n.Line + line - 1
		}
	}
	e.Msg = fmt.Sprintf("CEL (expression line %d, column %d): %s", line, ce.col, ce.msg)
	return e
}
