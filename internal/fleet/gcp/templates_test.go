package gcp

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"stayup/internal/fleet"
)

// fakeTemplates plays global instance templates: a list that filters by
// instance labels and pages, and a delete that Compute refuses for a
// template a managed instance group uses, by its versions or by the
// instances it still runs from it ("It is not possible to delete templates
// that are already in use by a managed instance group", instanceTemplates.delete,
// Compute API reference; the refusal is HTTP 400 resourceInUseByAnotherResource,
// as terraform-provider-google's issues about it quote). viaOperation gives the refusal
// as the operation's error, the form the Go client's Operation.Wait
// returns (a googleapi.Error with the operation's HTTP code and message).
type fakeTemplates struct {
	f            *fakeGCP
	items        map[string]*computepb.InstanceTemplate
	viaOperation bool
	filters      []string
	deleted      []string
	refused      []string
}

func (t *fakeTemplates) add(name string, created time.Time, labels map[string]string) {
	if t.items == nil {
		t.items = map[string]*computepb.InstanceTemplate{}
	}
	t.items[name] = &computepb.InstanceTemplate{
		Name: proto.String(name), CreationTimestamp: proto.String(created.Format(time.RFC3339)),
		Properties: &computepb.InstanceProperties{Labels: labels},
	}
}

// used is what the group references: its versions and its instances.
func (t *fakeTemplates) used() map[string]bool {
	u := map[string]bool{}
	for _, v := range t.f.group.GetVersions() {
		u[last(v.GetInstanceTemplate())] = true
	}
	for _, p := range t.f.pages {
		for _, m := range p.GetManagedInstances() {
			u[last(m.GetVersion().GetInstanceTemplate())] = true
		}
	}
	return u
}

// ListPage pages two at a time (token "n<i>") and applies the filter the
// way Compute would for the terms stayup sends: (properties.labels.K = "V").
func (t *fakeTemplates) ListPage(_ context.Context, r *computepb.ListInstanceTemplatesRequest) (*computepb.InstanceTemplateList, error) {
	if err := t.f.record("templates.list"); err != nil {
		return nil, err
	}
	t.filters = append(t.filters, r.GetFilter())
	want := map[string]string{}
	for _, m := range labelTerm.FindAllStringSubmatch(r.GetFilter(), -1) {
		want[m[1]] = m[2]
	}
	var names []string
	for n, it := range t.items {
		ok := true
		for k, v := range want {
			if it.GetProperties().GetLabels()[k] != v {
				ok = false
			}
		}
		if ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	start := 0
	if tok := r.GetPageToken(); tok != "" {
		fmt.Sscanf(tok, "n%d", &start)
	}
	end := min(start+2, len(names))
	out := &computepb.InstanceTemplateList{}
	for _, n := range names[start:end] {
		out.Items = append(out.Items, t.items[n])
	}
	if end < len(names) {
		out.NextPageToken = proto.String(fmt.Sprintf("n%d", end))
	}
	return out, nil
}

func (t *fakeTemplates) Delete(_ context.Context, r *computepb.DeleteInstanceTemplateRequest) error {
	if err := t.f.record("templates.delete"); err != nil {
		return err
	}
	name := r.GetInstanceTemplate()
	if _, ok := t.items[name]; !ok {
		return &googleapi.Error{Code: http.StatusNotFound, Message: "The resource was not found"}
	}
	if t.used()[name] {
		t.refused = append(t.refused, name)
		msg := fmt.Sprintf("The instance_template resource 'projects/p/global/instanceTemplates/%s' is already being used by 'projects/p/regions/europe-west1/instanceGroupManagers/mig'", name)
		if t.viaOperation {
			return &googleapi.Error{Code: http.StatusBadRequest, Message: `BAD REQUEST: errors:{code:"RESOURCE_IN_USE_BY_ANOTHER_RESOURCE" message:"` + msg + `"}`}
		}
		return &googleapi.Error{Code: http.StatusBadRequest, Message: msg, Errors: []googleapi.ErrorItem{{Reason: "resourceInUseByAnotherResource", Message: msg}}}
	}
	delete(t.items, name)
	t.deleted = append(t.deleted, name)
	return nil
}

var (
	ours      = TemplateLabels("gcp", "stayup")
	labelTerm = regexp.MustCompile(`\(properties\.labels\.([a-z0-9_-]+) = "([a-z0-9_-]*)"\)`)
)

// A rollout that rolled from tpl-1 to tpl-2 left tpl-1 (retained) while
// one instance still runs it; an older tpl-0 from a crashed run; another
// stack's template; and a newer tpl-3 an up is about to use.
func templatesMidRoll(viaOperation bool) (*fakeGCP, *fakeTemplates) {
	f := newFake() // targets tpl-2; vm-c still on tpl-1 (RECREATING)
	t := &fakeTemplates{f: f, viaOperation: viaOperation}
	t.add("tpl-0", t0.Add(-2*time.Hour), ours)
	t.add("tpl-1", t0.Add(-time.Hour), ours)
	t.add("tpl-2", t0, ours)
	t.add("tpl-3", t0.Add(time.Hour), ours)
	t.add("other-1", t0.Add(-3*time.Hour), TemplateLabels("prod", "stayup"))
	return f, t
}

func TestCleanupRevisionsKeepsWhatTheGroupUses(t *testing.T) {
	t.Parallel()
	for _, viaOperation := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused in the operation %v", viaOperation), func(t *testing.T) {
			t.Parallel()
			f, tpl := templatesMidRoll(viaOperation)
			fl := New(out, Clients{Groups: groups{f}, Instances: instances{f}, Backends: backends{f}, HealthChecks: checks{f}, Autoscalers: scalers{f},
				Templates: tpl, TemplateLabels: ours}).WithBackoff(fleet.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 2})
			got, err := fl.CleanupRevisions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Deleted, []string{"tpl-0"}) || !slices.Equal(got.InUse, []string{"tpl-1"}) || !slices.Equal(got.Skipped, []string{"tpl-3"}) {
				t.Errorf("cleanup %+v, want tpl-0 deleted, tpl-1 in use, tpl-3 skipped", got)
			}
			if _, ok := tpl.items["tpl-2"]; !ok {
				t.Error("the group's target was deleted")
			}
			if _, ok := tpl.items["other-1"]; !ok {
				t.Error("another stack's template was deleted")
			}
			if want := `(properties.labels.stayup-project = "stayup") (properties.labels.stayup-stack = "gcp")`; tpl.filters[0] != want {
				t.Errorf("filter %q, want %q", tpl.filters[0], want)
			}

			// The roll ends: vm-c is replaced on tpl-2; the next cleanup
			// deletes tpl-1.
			f.pages[0].ManagedInstances[0] = managed("europe-west1-c", "vm-e", "RUNNING", "NONE", "tpl-2")
			got, err = fl.CleanupRevisions(context.Background())
			if err != nil || !slices.Equal(got.Deleted, []string{"tpl-1"}) || len(got.InUse) != 0 {
				t.Errorf("after the roll: %+v, %v", got, err)
			}
		})
	}
}

// After destroy nothing is kept: every template of the stack goes, the
// other stack's stays, and one still in use (a group left behind) is
// reported, not an error.
func TestTemplateCleanerAfterDestroy(t *testing.T) {
	t.Parallel()
	f, tpl := templatesMidRoll(false)
	c := &TemplateCleaner{Project: "p", Labels: ours, API: tpl}
	got, err := c.Cleanup(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Deleted, []string{"tpl-0", "tpl-3"}) || !slices.Equal(got.InUse, []string{"tpl-1", "tpl-2"}) {
		t.Errorf("cleanup %+v", got)
	}
	f.group.Versions, f.pages = nil, []*computepb.RegionInstanceGroupManagersListInstancesResponse{{}}
	got, _ = c.Cleanup(context.Background(), "")
	if !slices.Equal(got.Deleted, []string{"tpl-1", "tpl-2"}) {
		t.Errorf("with the group gone: %+v", got)
	}
	if len(tpl.items) != 1 || tpl.items["other-1"] == nil {
		t.Errorf("left %v", tpl.items)
	}
	if (&TemplateCleaner{Project: "p", API: tpl}).Cleanup(context.Background(), ""); len(tpl.items) != 1 {
		t.Error("a cleaner without labels deleted something")
	}
}

func TestCleanupNeedsPermission(t *testing.T) {
	t.Parallel()
	f, tpl := templatesMidRoll(false)
	f.errs["templates.delete"] = []error{&googleapi.Error{Code: http.StatusForbidden, Message: "Required 'compute.instanceTemplates.delete' permission"}}
	_, err := (&TemplateCleaner{Project: "p", Labels: ours, API: tpl}).Cleanup(context.Background(), "tpl-2")
	if !strings.Contains(fmt.Sprint(err), "missing permission compute.instanceTemplates.delete") {
		t.Errorf("err %v", err)
	}
}

// The group names its template by the unique self link the program sets
// (?uniqueId=): the target is still the template's name.
func TestRolloutTargetIgnoresUniqueID(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.group.Versions[0].InstanceTemplate = proto.String(base + "global/instanceTemplates/tpl-2?uniqueId=123456789")
	got, err := newFleet(f).Rollout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Target != "tpl-2" || got.Percent != 75 {
		t.Errorf("rollout %+v, want target tpl-2 at 75%%", got)
	}
}
