package config

import (
	"reflect"
	"strings"
)

// Keys are the configuration file's keys, dotted ("salesforce.loginUrl"),
// in the order Config declares them: what help texts and the example file
// must name.
func Keys() []string { return yamlKeys(reflect.TypeOf(Config{}), "") }

func yamlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			out = append(out, yamlKeys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}
