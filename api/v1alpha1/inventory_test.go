package v1alpha1

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestFieldsDocumented checks that every JSON field of the inventory types
// is named in docs/inventory.md, so the field documentation cannot fall
// behind the code.
func TestFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/inventory.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("%s.%s: JSON field %q is not documented in docs/inventory.md", typ.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Inventory{}))
}
