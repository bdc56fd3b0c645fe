package main

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestComputeDiff(t *testing.T) {
	s := resource.NewStringProperty
	arr := func(vs ...resource.PropertyValue) resource.PropertyValue { return resource.NewArrayProperty(vs) }
	base := resource.PropertyMap{
		"create":   s("echo hi"),
		"delete":   s("rm -f x"),
		"triggers": arr(s("a"), resource.NewNumberProperty(1)),
		"stdin":    resource.MakeSecret(s("pw")),
	}
	with := func(k resource.PropertyKey, v resource.PropertyValue) resource.PropertyMap {
		m := base.Copy()
		m[k] = v
		return m
	}
	without := func(k resource.PropertyKey) resource.PropertyMap {
		m := base.Copy()
		delete(m, k)
		return m
	}
	cases := []struct {
		name         string
		olds, news   resource.PropertyMap
		changes      pulumirpc.DiffResponse_DiffChanges
		diffs        string
		replaces     string
		detailedKeys map[string]pulumirpc.PropertyDiff_Kind
	}{
		{name: "no change", olds: base, news: base.Copy(), changes: pulumirpc.DiffResponse_DIFF_NONE},
		{name: "version key ignored", olds: base, news: with("version", s("1.2.1")), changes: pulumirpc.DiffResponse_DIFF_NONE},
		{name: "create changed is an update", olds: base, news: with("create", s("echo bye")),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "create",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"create": pulumirpc.PropertyDiff_UPDATE}},
		{name: "update added", olds: base, news: with("update", s("echo u")),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "update",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"update": pulumirpc.PropertyDiff_ADD}},
		{name: "delete removed", olds: base, news: without("delete"),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "delete",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"delete": pulumirpc.PropertyDiff_DELETE}},
		{name: "secret stdin changed", olds: base, news: with("stdin", resource.MakeSecret(s("pw2"))),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "stdin",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"stdin": pulumirpc.PropertyDiff_UPDATE}},
		{name: "trigger element changed replaces", olds: base, news: with("triggers", arr(s("b"), resource.NewNumberProperty(1))),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "triggers", replaces: "triggers",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"triggers[0]": pulumirpc.PropertyDiff_UPDATE_REPLACE}},
		{name: "trigger appended replaces", olds: base,
			news:    with("triggers", arr(s("a"), resource.NewNumberProperty(1), s("c"))),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "triggers", replaces: "triggers",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"triggers[2]": pulumirpc.PropertyDiff_ADD_REPLACE}},
		{name: "triggers removed replaces", olds: base, news: without("triggers"),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "triggers", replaces: "triggers",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"triggers": pulumirpc.PropertyDiff_DELETE_REPLACE}},
		{name: "triggers and create changed", olds: base,
			news: func() resource.PropertyMap {
				m := with("triggers", arr(s("z"), resource.NewNumberProperty(1)))
				m["create"] = s("echo other")
				return m
			}(),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "create,triggers", replaces: "triggers",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{
				"create": pulumirpc.PropertyDiff_UPDATE, "triggers[0]": pulumirpc.PropertyDiff_UPDATE_REPLACE}},
		{name: "unknown new value (preview) is an update", olds: base,
			news:    with("create", resource.MakeComputed(s(""))),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "create",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"create": pulumirpc.PropertyDiff_UPDATE}},
		{name: "environment entry changed", olds: with("environment", resource.NewObjectProperty(resource.PropertyMap{"A": s("1")})),
			news:    with("environment", resource.NewObjectProperty(resource.PropertyMap{"A": s("2")})),
			changes: pulumirpc.DiffResponse_DIFF_SOME, diffs: "environment",
			detailedKeys: map[string]pulumirpc.PropertyDiff_Kind{"environment.A": pulumirpc.PropertyDiff_UPDATE}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := computeDiff(c.olds, c.news)
			if d.Changes != c.changes {
				t.Fatalf("changes = %v, want %v", d.Changes, c.changes)
			}
			if got := strings.Join(d.Diffs, ","); got != c.diffs {
				t.Errorf("diffs = %q, want %q", got, c.diffs)
			}
			if got := strings.Join(d.Replaces, ","); got != c.replaces {
				t.Errorf("replaces = %q, want %q", got, c.replaces)
			}
			if len(d.DetailedDiff) != len(c.detailedKeys) {
				t.Errorf("detailed diff = %v, want %v", d.DetailedDiff, c.detailedKeys)
			}
			for k, kind := range c.detailedKeys {
				if pd, ok := d.DetailedDiff[k]; !ok || pd.Kind != kind || !pd.InputDiff {
					t.Errorf("detailed[%s] = %v, want %v", k, pd, kind)
				}
			}
			if d.DeleteBeforeReplace {
				t.Error("deleteBeforeReplace must be false")
			}
		})
	}
}

func TestApplyIgnoreChanges(t *testing.T) {
	state := resource.PropertyMap{"create": resource.NewStringProperty("old"), "stdout": resource.NewStringProperty("o")}
	news := resource.PropertyMap{"create": resource.NewStringProperty("new"), "update": resource.NewStringProperty("u")}
	got := applyIgnoreChanges(state, news, []string{"create", "update"})
	if got["create"].StringValue() != "old" {
		t.Errorf("create = %v", got["create"])
	}
	if _, ok := got["update"]; ok {
		t.Errorf("update should be dropped (absent in state)")
	}
	if news["create"].StringValue() != "new" {
		t.Errorf("input map mutated")
	}
}
