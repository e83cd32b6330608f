package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"stayup/internal/fleet"
)

// Instance templates outlive the deploy that replaced them. A new image is
// a new template, and Pulumi replaces a template create-before-destroy:
// create the new one, point the group at it, delete the old one. The
// group's PATCH returns as soon as the group targets the new template,
// while its instances still run the old one, and Compute refuses to delete
// a template a managed instance group uses ("It is not possible to delete
// templates that are already in use by a managed instance group",
// instanceTemplates.delete in the Compute API reference; the error is "The
// instance_template resource '...' is already being used by '...',
// resourceInUseByAnotherResource", as terraform-provider-google's issue
// "google_compute_region_instance_group_manager rolling_update
// instance_template resourceInUseByAnotherResource" shows for a regional
// group's rolling update). So the program keeps replaced
// templates (retainOnDelete) and stayup deletes them once the group no
// longer uses them: at the end of a rollout, at the start of the next one,
// and in destroy. They are found by the labels the program puts on every
// template (TemplateLabels).
//
// Assumed, to check on a live run:
//   - the list filter on the template's instance labels
//     (properties.labels.KEY = "VALUE") selects them; the labels are checked
//     again on each listed template, so a filter that matches more is harmless;
//   - the refusal of an in-use template arrives either as the DELETE call's
//     HTTP 400 with reason resourceInUseByAnotherResource or as the
//     operation's error (code RESOURCE_IN_USE_BY_ANOTHER_RESOURCE, the
//     same message); both are read as "in use";
//   - the group reports versions[].instanceTemplate as the template's URL,
//     with or without the ?uniqueId= the program sets; names are compared
//     without it.

// TemplatesAPI is what the fleet needs of global instance templates.
// ListPage returns one page: the request's PageToken chooses it. Delete
// returns once Compute has finished the deletion or refused it.
type TemplatesAPI interface {
	ListPage(context.Context, *computepb.ListInstanceTemplatesRequest) (*computepb.InstanceTemplateList, error)
	Delete(context.Context, *computepb.DeleteInstanceTemplateRequest) error
}

// The labels the program puts on every instance template (infra/gcp):
// the stack and the Pulumi project, as GCP label values.
const (
	StackLabel   = "stayup-stack"
	ProjectLabel = "stayup-project"
)

// TemplateLabels are the labels of a stack's templates. GCP label values
// allow only lower-case letters, digits, dashes and underscores.
func TemplateLabels(stack, pulumiProject string) map[string]string {
	return map[string]string{StackLabel: LabelValue(stack), ProjectLabel: LabelValue(pulumiProject)}
}

// LabelValue turns a name into a GCP label value.
func LabelValue(v string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, strings.ToLower(v))
}

// TemplateCleaner deletes a stack's instance templates that nothing uses.
type TemplateCleaner struct {
	Project string
	Labels  map[string]string
	API     TemplatesAPI
	Backoff fleet.Backoff
}

// OpenTemplateCleaner connects to Compute with Application Default
// Credentials; Close releases it.
func OpenTemplateCleaner(ctx context.Context, project string, labels map[string]string) (*TemplateCleaner, func() error, error) {
	c, err := compute.NewInstanceTemplatesRESTClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	return &TemplateCleaner{Project: project, Labels: labels, API: templateClient{c}, Backoff: fleet.DefaultBackoff}, c.Close, nil
}

// Cleanup deletes every template with the cleaner's labels except keep
// (the template the group targets; "" after destroy: none) and those
// created after keep (an up under way may be about to point the group at
// one). A template Compute refuses as in use stays, listed in InUse: the
// next rollout or destroy tries again.
func (c *TemplateCleaner) Cleanup(ctx context.Context, keep string) (fleet.Cleanup, error) {
	var out fleet.Cleanup
	list, err := c.list(ctx)
	if err != nil {
		return out, err
	}
	var keepTime time.Time
	for _, t := range list {
		if t.GetName() == keep {
			keepTime, _ = time.Parse(time.RFC3339, t.GetCreationTimestamp())
		}
	}
	for _, t := range list {
		name := t.GetName()
		if name == keep {
			continue
		}
		if created, err := time.Parse(time.RFC3339, t.GetCreationTimestamp()); keep != "" && (err != nil || keepTime.IsZero() || created.After(keepTime)) {
			out.Skipped = append(out.Skipped, name)
			continue
		}
		err := c.call(ctx, "compute.instanceTemplates.delete", func() error {
			return c.API.Delete(ctx, &computepb.DeleteInstanceTemplateRequest{Project: c.Project, InstanceTemplate: name})
		})
		switch {
		case err == nil, errors.Is(err, fleet.ErrNotFound):
			out.Deleted = append(out.Deleted, name)
		case inUse(err):
			out.InUse = append(out.InUse, name)
		default:
			return out, fmt.Errorf("delete instance template %s: %w", name, err)
		}
	}
	return out, nil
}

func (c *TemplateCleaner) call(ctx context.Context, permission string, do func() error) error {
	return call(ctx, c.Backoff, permission, do)
}

// list returns the templates that carry every one of the labels, oldest
// first.
func (c *TemplateCleaner) list(ctx context.Context) ([]*computepb.InstanceTemplate, error) {
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var terms []string
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("(properties.labels.%s = %q)", k, c.Labels[k]))
	}
	var all []*computepb.InstanceTemplate
	token := ""
	for {
		var page *computepb.InstanceTemplateList
		err := c.call(ctx, "compute.instanceTemplates.list", func() (err error) {
			req := &computepb.ListInstanceTemplatesRequest{Project: c.Project, Filter: proto.String(strings.Join(terms, " ")), MaxResults: proto.Uint32(500)}
			if token != "" {
				req.PageToken = proto.String(token)
			}
			page, err = c.API.ListPage(ctx, req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list the instance templates of project %s: %w", c.Project, err)
		}
		for _, t := range page.GetItems() {
			if hasLabels(t.GetProperties().GetLabels(), c.Labels) {
				all = append(all, t)
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].GetCreationTimestamp() < all[j].GetCreationTimestamp() })
	return all, nil
}

func hasLabels(have, want map[string]string) bool {
	if len(want) == 0 {
		return false // never everything
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// inUse reads Compute's refusal to delete a template a group uses, from
// the call or from its operation (see the assumptions above).
func inUse(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusBadRequest {
		return false
	}
	for _, e := range ge.Errors {
		if e.Reason == "resourceInUseByAnotherResource" {
			return true
		}
	}
	return strings.Contains(ge.Message, "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE") || strings.Contains(ge.Message, "resourceInUseByAnotherResource") ||
		strings.Contains(ge.Message, "is already being used by")
}

// CleanupRevisions deletes the stack's instance templates the group no
// longer targets (fleet.RevisionCleaner). The fleet needs Templates and
// TemplateLabels in its Clients.
func (f *Fleet) CleanupRevisions(ctx context.Context) (fleet.Cleanup, error) {
	if f.c.Templates == nil || len(f.c.TemplateLabels) == 0 {
		return fleet.Cleanup{}, errors.New("no instance templates client")
	}
	g, err := f.group(ctx)
	if err != nil {
		return fleet.Cleanup{}, err
	}
	keep := ""
	if vs := g.GetVersions(); len(vs) > 0 {
		keep = last(vs[0].GetInstanceTemplate())
	} else {
		keep = last(g.GetInstanceTemplate())
	}
	if keep == "" {
		return fleet.Cleanup{}, fmt.Errorf("group %s names no instance template: nothing is deleted", f.out.InstanceGroupManager)
	}
	c := &TemplateCleaner{Project: f.out.Project, Labels: f.c.TemplateLabels, API: f.c.Templates, Backoff: f.backoff}
	return c.Cleanup(ctx, keep)
}

type templateClient struct {
	c *compute.InstanceTemplatesClient
}

func (a templateClient) ListPage(ctx context.Context, r *computepb.ListInstanceTemplatesRequest) (*computepb.InstanceTemplateList, error) {
	token := r.GetPageToken()
	r.PageToken = nil
	items, next, err := onePage[*computepb.InstanceTemplate](a.c.List(ctx, r), r.GetMaxResults(), token)
	if err != nil {
		return nil, err
	}
	return &computepb.InstanceTemplateList{Items: items, NextPageToken: proto.String(next)}, nil
}

// Delete waits for the operation: Compute may accept the call and refuse
// in the operation.
func (a templateClient) Delete(ctx context.Context, r *computepb.DeleteInstanceTemplateRequest) error {
	op, err := a.c.Delete(ctx, r)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}
