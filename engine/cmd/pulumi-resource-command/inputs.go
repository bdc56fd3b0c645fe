package main

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

type inputKind int

const (
	kindString inputKind = iota
	kindBool
	kindStringList
	kindStringMap
	kindAnyList
	kindLogging
	kindUnsupported
)

// inputKinds lists every input of command:local:Command in v1.2.1.
var inputKinds = map[resource.PropertyKey]inputKind{
	"create":                 kindString,
	"update":                 kindString,
	"delete":                 kindString,
	"dir":                    kindString,
	"stdin":                  kindString,
	"interpreter":            kindStringList,
	"environment":            kindStringMap,
	"triggers":               kindAnyList,
	"addPreviousOutputInEnv": kindBool,
	"logging":                kindLogging,
	"assetPaths":             kindUnsupported,
	"archivePaths":           kindUnsupported,
}

const (
	logStdout          = "stdout"
	logStderr          = "stderr"
	logStdoutAndStderr = "stdoutAndStderr"
	logNone            = "none"
)

// Output-only properties.
const (
	propStdout resource.PropertyKey = "stdout"
	propStderr resource.PropertyKey = "stderr"
)

// commandInputs are the decoded, plain (secret-unwrapped) inputs.
type commandInputs struct {
	create, update, delete *string
	dir                    string
	stdin                  string
	interpreter            []string
	environment            map[string]string
	addPrev                bool
	logging                string
}

func (in commandInputs) logStdout() bool {
	return in.logging == logStdout || in.logging == logStdoutAndStderr
}

func (in commandInputs) logStderr() bool {
	return in.logging == logStderr || in.logging == logStdoutAndStderr
}

// plain strips secret and (known) output wrappers.
func plain(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// unknown reports whether v is not known yet (preview).
func unknown(v resource.PropertyValue) bool {
	v = plain(v)
	return v.IsComputed() || v.IsOutput()
}

// checkInputs validates the inputs' names and types. Unknown values pass.
func checkInputs(news resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	fail := func(k resource.PropertyKey, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: string(k), Reason: fmt.Sprintf(format, args...)})
	}
	for _, k := range news.StableKeys() {
		v := news[k]
		kind, ok := inputKinds[k]
		if !ok {
			fail(k, "command:local:Command has no input %q", k)
			continue
		}
		if kind == kindUnsupported {
			fail(k, "%s is not supported by forensic-lab's command provider (it implements command:local:Command "+
				"without asset/archive collection); remove it", k)
			continue
		}
		if unknown(v) {
			continue
		}
		v = plain(v)
		switch kind {
		case kindString:
			if !v.IsString() {
				fail(k, "%s must be a string, not %s", k, v.TypeString())
			}
		case kindBool:
			if !v.IsBool() {
				fail(k, "%s must be a boolean, not %s", k, v.TypeString())
			}
		case kindLogging:
			if !v.IsString() {
				fail(k, "%s must be a string, not %s", k, v.TypeString())
			} else if s := v.StringValue(); s != logStdout && s != logStderr && s != logStdoutAndStderr && s != logNone {
				fail(k, "%s must be one of stdout, stderr, stdoutAndStderr, none; got %q", k, s)
			}
		case kindAnyList:
			if !v.IsArray() {
				fail(k, "%s must be a list, not %s", k, v.TypeString())
			}
		case kindStringList:
			if !v.IsArray() {
				fail(k, "%s must be a list of strings, not %s", k, v.TypeString())
				break
			}
			for i, e := range v.ArrayValue() {
				if !unknown(e) && !plain(e).IsString() {
					fail(k, "%s[%d] must be a string, not %s", k, i, plain(e).TypeString())
				}
			}
		case kindStringMap:
			if !v.IsObject() {
				fail(k, "%s must be a map of strings, not %s", k, v.TypeString())
				break
			}
			obj := v.ObjectValue()
			for _, ek := range obj.StableKeys() {
				if e := obj[ek]; !unknown(e) && !plain(e).IsString() {
					fail(k, "%s[%q] must be a string, not %s", k, ek, plain(e).TypeString())
				}
			}
		}
	}
	return failures
}

// decodeInputs reads the inputs from a property map of checked inputs or of
// state (output-only keys are ignored). All values must be known.
func decodeInputs(m resource.PropertyMap) (commandInputs, error) {
	in := commandInputs{addPrev: true, logging: logStdoutAndStderr}
	str := func(k resource.PropertyKey) (*string, error) {
		v, ok := m[k]
		if !ok || v.IsNull() {
			return nil, nil
		}
		v = plain(v)
		if !v.IsString() {
			return nil, fmt.Errorf("%s must be a known string, got %s", k, v.TypeString())
		}
		s := v.StringValue()
		return &s, nil
	}
	var err error
	if in.create, err = str("create"); err != nil {
		return in, err
	}
	if in.update, err = str("update"); err != nil {
		return in, err
	}
	if in.delete, err = str("delete"); err != nil {
		return in, err
	}
	for k, dst := range map[resource.PropertyKey]*string{"dir": &in.dir, "stdin": &in.stdin, "logging": &in.logging} {
		s, err := str(k)
		if err != nil {
			return in, err
		}
		if s != nil {
			*dst = *s
		}
	}
	if v, ok := m["addPreviousOutputInEnv"]; ok && !v.IsNull() {
		if v = plain(v); !v.IsBool() {
			return in, fmt.Errorf("addPreviousOutputInEnv must be a known boolean, got %s", v.TypeString())
		}
		in.addPrev = v.BoolValue()
	}
	if v, ok := m["interpreter"]; ok && !v.IsNull() {
		if v = plain(v); !v.IsArray() {
			return in, fmt.Errorf("interpreter must be a known list of strings, got %s", v.TypeString())
		}
		for i, e := range v.ArrayValue() {
			if e = plain(e); !e.IsString() {
				return in, fmt.Errorf("interpreter[%d] must be a known string, got %s", i, e.TypeString())
			}
			in.interpreter = append(in.interpreter, e.StringValue())
		}
	}
	if v, ok := m["environment"]; ok && !v.IsNull() {
		if v = plain(v); !v.IsObject() {
			return in, fmt.Errorf("environment must be a known map of strings, got %s", v.TypeString())
		}
		in.environment = map[string]string{}
		for k, e := range v.ObjectValue() {
			if e = plain(e); !e.IsString() {
				return in, fmt.Errorf("environment[%q] must be a known string, got %s", k, e.TypeString())
			}
			in.environment[string(k)] = e.StringValue()
		}
	}
	return in, nil
}

// stringProp returns the plain string value of m[k], or "".
func stringProp(m resource.PropertyMap, k resource.PropertyKey) string {
	if v, ok := m[k]; ok {
		if v = plain(v); v.IsString() {
			return v.StringValue()
		}
	}
	return ""
}

// inputsOnly returns the entries of m that are inputs of the resource.
func inputsOnly(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if _, ok := inputKinds[k]; ok {
			out[k] = v
		}
	}
	return out
}

func sortedKeys(set map[string]struct{}) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
