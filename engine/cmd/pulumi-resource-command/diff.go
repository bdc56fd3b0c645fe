package main

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// applyIgnoreChanges copies, for each ignoreChanges path, the old value (from
// state) into news, or removes it from news when state has none. The engine
// normally did this already; doing it again is harmless.
func applyIgnoreChanges(state, news resource.PropertyMap, ignoreChanges []string) resource.PropertyMap {
	if len(ignoreChanges) == 0 {
		return news
	}
	news = news.Copy()
	obj := resource.NewObjectProperty(news)
	for _, p := range ignoreChanges {
		path, err := resource.ParsePropertyPath(p)
		if err != nil {
			continue
		}
		if old, ok := path.Get(resource.NewObjectProperty(state)); ok {
			path.Set(obj, old)
		} else {
			path.Delete(obj)
		}
	}
	return obj.ObjectValue()
}

// dropInternalKeys removes the engine's "version" key and "__"-prefixed keys,
// which are not resource inputs.
func dropInternalKeys(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if k == "version" || strings.HasPrefix(string(k), "__") {
			continue
		}
		out[k] = v
	}
	return out
}

// isReplaceKey reports whether a change at the top-level key forces a
// replacement: only `triggers` does (v1.2.1 marks it replaceOnChanges, and the
// npm SDK adds replaceOnChanges: ["triggers[*]"]). All other inputs, `create`
// included, are updated in place.
func isReplaceKey(k string) bool { return k == "triggers" }

// computeDiff compares old inputs with new inputs.
func computeDiff(oldInputs, news resource.PropertyMap) *pulumirpc.DiffResponse {
	objDiff := dropInternalKeys(oldInputs).Diff(dropInternalKeys(news))
	if objDiff == nil || !objDiff.AnyChanges() {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}
	}
	diffs := map[string]struct{}{}
	replaces := map[string]struct{}{}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for path, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, true) {
		top := path
		if pp, err := resource.ParsePropertyPath(path); err == nil && len(pp) > 0 {
			if s, ok := pp[0].(string); ok {
				top = s
			}
		}
		kind := d.Kind
		if isReplaceKey(top) {
			kind = kind.AsReplace()
			replaces[top] = struct{}{}
		}
		diffs[top] = struct{}{}
		detailed[path] = &pulumirpc.PropertyDiff{Kind: rpcDiffKind(kind), InputDiff: true}
	}
	return &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		Diffs:           sortedKeys(diffs),
		Replaces:        sortedKeys(replaces),
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}
}

func rpcDiffKind(k plugin.DiffKind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case plugin.DiffAdd:
		return pulumirpc.PropertyDiff_ADD
	case plugin.DiffAddReplace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case plugin.DiffDelete:
		return pulumirpc.PropertyDiff_DELETE
	case plugin.DiffDeleteReplace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case plugin.DiffUpdateReplace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}
