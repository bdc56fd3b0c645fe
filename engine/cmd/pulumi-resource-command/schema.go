package main

import "encoding/json"

// schemaJSON returns a minimal Pulumi package schema for `command` that
// declares only command:local:Command (names and types as in v1.2.1).
func schemaJSON() string {
	str := map[string]any{"type": "string"}
	strList := map[string]any{"type": "array", "items": str}
	described := func(spec map[string]any, desc string) map[string]any {
		out := map[string]any{"description": desc}
		for k, v := range spec {
			out[k] = v
		}
		return out
	}
	inputs := map[string]any{
		"create": described(str, "The command to run on create (and on update when `update` is not set)."),
		"update": described(str, "The command to run on update; PULUMI_COMMAND_STDOUT/STDERR hold the previous outputs."),
		"delete": described(str, "The command to run on delete; PULUMI_COMMAND_STDOUT/STDERR hold the previous outputs."),
		"dir":    described(str, "The directory to run the command in."),
		"stdin":  described(str, "Passed to the command's standard input."),
		"interpreter": described(strList,
			"The program and arguments that run the command. Defaults to [\"/bin/sh\", \"-c\"]."),
		"environment": described(map[string]any{"type": "object", "additionalProperties": str},
			"Additional environment variables for the command."),
		"triggers": map[string]any{
			"type":             "array",
			"items":            map[string]any{"$ref": "pulumi.json#/Any"},
			"replaceOnChanges": true,
			"description":      "Any change replaces the resource.",
		},
		"addPreviousOutputInEnv": map[string]any{
			"type":        "boolean",
			"description": "Put the previous stdout/stderr in PULUMI_COMMAND_STDOUT/STDERR. Defaults to true.",
		},
		"logging": map[string]any{
			"$ref":        "#/types/command:local:Logging",
			"description": "Which output streams are logged while the command runs. Defaults to stdoutAndStderr.",
		},
		"assetPaths":   described(strList, "Not supported by forensic-lab's provider; Check fails if set."),
		"archivePaths": described(strList, "Not supported by forensic-lab's provider; Check fails if set."),
	}
	properties := map[string]any{
		"stdout": described(str, "The standard output of the command (one trailing newline trimmed)."),
		"stderr": described(str, "The standard error of the command (one trailing newline trimmed)."),
	}
	for k, v := range inputs {
		properties[k] = v
	}
	enumValue := func(v, d string) map[string]any { return map[string]any{"value": v, "description": d} }
	spec := map[string]any{
		"name":        providerName,
		"version":     providerVersion,
		"displayName": "Command",
		"description": "forensic-lab's implementation of command:local:Command (the only resource it provides).",
		"config":      map[string]any{},
		"provider":    map[string]any{},
		"types": map[string]any{
			"command:local:Logging": map[string]any{
				"type": "string",
				"enum": []any{
					enumValue(logStdout, "Log stdout but not stderr"),
					enumValue(logStderr, "Log stderr but not stdout"),
					enumValue(logStdoutAndStderr, "Log stdout and stderr"),
					enumValue(logNone, "Log nothing"),
				},
			},
		},
		"resources": map[string]any{
			resourceToken: map[string]any{
				"description":     "A local command run on create, update and delete.",
				"inputProperties": inputs,
				"properties":      properties,
				"required":        []string{"stdout", "stderr"},
			},
		},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		panic(err)
	}
	return string(b)
}
