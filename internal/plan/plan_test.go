package plan

import (
	"errors"
	"strings"
	"testing"

	"stayup/infra/spec"
	"stayup/internal/project"
)

func root(t testing.TB) string {
	t.Helper()
	r, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestExampleStacksPlan plans every committed stack file: each must stay a
// working example.
func TestExampleStacksPlan(t *testing.T) {
	t.Parallel()
	stacks, err := project.Stacks(root(t))
	if err != nil || len(stacks) == 0 {
		t.Fatalf("stack files: %v, %v", stacks, err)
	}
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			name, cfg, err := Source{Root: root(t), Stack: stack}.Config()
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Cloud != cfg["stayup:cloud"] || res.Stack != stack || len(res.Resources) == 0 {
				t.Errorf("plan = cloud %q stack %q with %d resources", res.Cloud, res.Stack, len(res.Resources))
			}
			for _, key := range []string{"url", "cloud", "region", "zones", "image", "fleet"} {
				if _, ok := res.Outputs[key]; !ok {
					t.Errorf("output %s missing (outputs: %v)", key, res.Outputs)
				}
			}
		})
	}
}

func TestSourceConfigOverridesAndDefaults(t *testing.T) {
	t.Parallel()
	_, cfg, err := Source{Root: root(t), Cloud: "aws", Overrides: map[string]string{"stayup:minSize": "2"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["stayup:minSize"] != "2" || cfg["aws:region"] == "" {
		t.Errorf("config = %v, want the example stack with minSize overridden", cfg)
	}

	// A cloud without an example stack plans with its defaults.
	dir := t.TempDir()
	_, cfg, err = Source{Root: dir, Cloud: "gcp"}.Config()
	if err != nil || cfg["stayup:cloud"] != "gcp" {
		t.Errorf("config = %v, %v; want the defaults for gcp", cfg, err)
	}
	// A named stack must exist.
	if _, _, err := (Source{Root: dir, Stack: "prod"}).Config(); !errors.Is(err, project.ErrNoStack) {
		t.Errorf("missing stack error = %v", err)
	}
}

func TestRunRejectsBadConfigBeforeRegisteringAnything(t *testing.T) {
	t.Parallel()
	_, err := Run("x", map[string]string{
		"stayup:cloud": "aws", "aws:region": "eu-west-1",
		"stayup:minSize": "1", "stayup:port": "http", "stayup:minsize": "2",
	})
	var serr *spec.Error
	if !errors.As(err, &serr) {
		t.Fatalf("error = %v, want *spec.Error", err)
	}
	keys := map[string]bool{}
	for _, p := range serr.Problems {
		keys[p.Key] = true
	}
	for _, k := range []string{"stayup:minSize", "stayup:port", "stayup:minsize"} {
		if !keys[k] {
			t.Errorf("no problem for %s in %v", k, err)
		}
	}
}

func TestRunErrorsAreOneCleanLine(t *testing.T) {
	t.Parallel()
	// A failure inside the program (here: more zones than the region has)
	// comes back as the program's own words, without the engine's framing.
	_, err := Run("aws", map[string]string{"stayup:cloud": "aws", "aws:region": "us-west-1", "stayup:zones": "3"})
	if err == nil || !strings.Contains(err.Error(), "stayup:zones = 3") || strings.Contains(err.Error(), "error occurred") {
		t.Errorf("error = %v, want one clean line naming stayup:zones", err)
	}
}

func TestAzurePlanStandsInForTheSSHKey(t *testing.T) {
	t.Parallel()
	res, err := Run("azure", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "stand-in key") {
		t.Errorf("notes = %v, want the stand-in key said", res.Notes)
	}
	var text strings.Builder
	res.Print(&text)
	for _, want := range []string{"Note: the plan uses a stand-in key for stayup:sshPublicKey", "over zones 1, 2, 3", "password login off", "max surge on", "unhealthy 34%", "automatic repairs on after PT10M", "outbound rules"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	secret, err := Run("azure", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:sshPublicKey": project.SecretPlaceholder})
	if err != nil || len(secret.Notes) != 1 {
		t.Errorf("with the key stored as a secret: notes %v, err %v; want the stand-in", secret.Notes, err)
	}
	with, err := Run("azure", map[string]string{"stayup:cloud": "azure", "azure-native:location": "westeurope", "stayup:sshPublicKey": "ssh-ed25519 AAAAC3Nza mine"})
	if err != nil || len(with.Notes) != 0 {
		t.Errorf("with a key: notes %v, err %v", with.Notes, err)
	}
}

func TestSummaryReadsTheGraph(t *testing.T) {
	t.Parallel()
	_, cfg, err := Source{Root: root(t), Cloud: "aws", Overrides: map[string]string{"stayup:readyPath": "/readyz", "stayup:zones": "2"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run("aws", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	res.Print(&text)
	for _, want := range []string{"over 2 zones: eu-west-1a, eu-west-1b", "GET /readyz", "auto rollback off", "IMDSv2 required, hop limit 1", "health check type ELB"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

// BenchmarkPlan measures a whole mocked plan per implemented cloud: what
// `stayup plan` and every property test pay per run.
func BenchmarkPlan(b *testing.B) {
	for _, cloud := range []string{"aws", "gcp", "azure"} {
		b.Run(cloud, func(b *testing.B) {
			_, cfg, err := Source{Root: root(b), Stack: cloud}.Config()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(cloud, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestGCPSummaryReadsTheGraph(t *testing.T) {
	t.Parallel()
	_, cfg, err := Source{Root: root(t), Cloud: "gcp", Overrides: map[string]string{"stayup:healthPath": "/healthz", "stayup:allowedCidrs": "203.0.113.0/24"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run("gcp", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	res.Print(&text)
	for _, want := range []string{"over 3 zones (EVEN)", "GET /healthz every 10s", "max surge 3, max unavailable 0", "no external IP", "Cloud Armor admits only", "CPU utilization target 60%",
		"egress: Private Google Access only, no Cloud NAT (no internet): HTTPS to private.googleapis.com, private DNS for gcr.io, googleapis.com, pkg.dev"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	cfg["stayup:image"] = "ghcr.io/someone/web:v2"
	res, err = Run("gcp", cfg)
	if err != nil {
		t.Fatal(err)
	}
	text.Reset()
	res.Print(&text)
	if want := "egress: Cloud NAT (regional) to the internet"; !strings.Contains(text.String(), want) || strings.Contains(text.String(), "Private Google Access only") {
		t.Errorf("with an image outside Google, summary lacks %q:\n%s", want, text.String())
	}
}

// An image in another project's registry: the plan says which grant the
// instances need; the example's public image gets no such note.
func TestGCPPlanNamesTheGrantAnotherProjectMustMake(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]string{
		"":                              "",
		"eu.gcr.io/someone-else/web:v2": "add-iam-policy-binding eu.gcr.io --project someone-else --location europe --member serviceAccount:stayup-gcp@stayup-example.iam.gserviceaccount.com --role roles/artifactregistry.reader",
		"europe-docker.pkg.dev/stayup-example/apps/web:v2": "",
	} {
		overrides := map[string]string{}
		if image != "" {
			overrides["stayup:image"] = image
		}
		_, cfg, err := Source{Root: root(t), Cloud: "gcp", Overrides: overrides}.Config()
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run("gcp", cfg)
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		res.Print(&text)
		if got := strings.Contains(text.String(), "Note: the image is in project"); got != (want != "") || !strings.Contains(text.String(), want) {
			t.Errorf("%q: plan says\n%s\nwant a note containing %q", image, text.String(), want)
		}
	}
}
