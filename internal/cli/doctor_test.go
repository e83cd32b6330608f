package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"stayup/infra/spec"
	"stayup/internal/doctor"
	"stayup/internal/permissions"
	"stayup/internal/project"
)

// verdictChecker adds one scripted check.
type verdictChecker struct{ c doctor.Check }

func (v verdictChecker) Check(_ context.Context, _ doctor.Need, _ doctor.Own, r *doctor.Report) {
	r.Checks = append(r.Checks, v.c)
	if v.c.Status == doctor.Fail {
		r.Blocking++
	}
}

func TestDoctorPrintsOneLinePerCheckAndExits1OnABlockingOne(t *testing.T) {
	root, err := project.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		c        doctor.Check
		json     bool
		wantExit int
		want     string
	}{
		{"passing", doctor.Check{Name: "credentials", Status: doctor.OK, Detail: "me"}, false, 0, "nothing blocks a deploy"},
		{"blocking", doctor.Check{Name: "vCPU quota", Status: doctor.Fail, Detail: "36 needed", Fix: "ask for more"}, false, 1, "-> ask for more"},
		{"json", doctor.Check{Name: "vCPU quota", Status: doctor.Fail, Detail: "36 needed", Fix: "ask for more"}, true, 1, `"blocking": 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &doctorOpts{stack: "aws", json: tc.json, root: root, config: project.StackConfig,
				outputs: func(context.Context, string, string) map[string]any { return nil },
				open: func(context.Context, spec.Spec, map[string]string, *permissions.Document) (doctor.Checker, func(), error) {
					return verdictChecker{tc.c}, func() {}, nil
				}}
			var out bytes.Buffer
			err := o.Execute(context.Background(), streams{out: &out, err: &out})
			exit := 0
			if e, ok := err.(exitError); ok {
				exit = e.code
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tc.wantExit || !strings.Contains(out.String(), tc.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", exit, out.String(), tc.wantExit, tc.want)
			}
			if tc.json {
				var r doctor.Report
				if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Stack != "aws" || len(r.Checks) != 1 {
					t.Errorf("json %+v (%v)", r, err)
				}
			}
		})
	}
}

func TestPermissionsPrintsTheDocumentOnStdout(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main([]string{"permissions", "--cloud", "aws", "--for", "operate"}, strings.NewReader(""), &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), `"ec2:TerminateInstances"`) || !strings.Contains(errOut.String(), "aws iam create-policy") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if code := Main([]string{"permissions", "--cloud", "aws", "--for", "admin"}, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("--for admin exited %d, want 2", code)
	}
}
