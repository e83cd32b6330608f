package aws_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"stayup/infra/aws"
	"stayup/infra/spec"
	"stayup/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func userDataCases(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, image := range map[string]string{
		"userdata.sh":     spec.DefaultImage,
		"userdata-ecr.sh": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2",
	} {
		s := mustSpec(t)
		s.Image = image
		script, err := aws.UserData(s, "/stayup/example/app")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = script
	}
	return out
}

func TestUserDataGolden(t *testing.T) {
	t.Parallel()
	for name, script := range userDataCases(t) {
		testkit.Golden(t, *update, "./infra/aws", filepath.Join("testdata", name), script)
	}
}

// TestUserDataPassesShellcheck lints every variant of the boot script and
// the scripts it writes through quoted heredocs.
func TestUserDataPassesShellcheck(t *testing.T) {
	t.Parallel()
	testkit.Need(t, "shellcheck")
	scripts := map[string]string{}
	for name, script := range userDataCases(t) {
		scripts[name] = script
		for i, inner := range embeddedScripts(script) {
			scripts[fmt.Sprintf("%s.inner%d", name, i)] = inner
		}
	}
	if len(scripts) < 3 {
		t.Fatalf("found %d scripts, want the two boot scripts and the ECR login", len(scripts))
	}
	for name, script := range scripts {
		testkit.Shellcheck(t, name, script)
	}
}

// embeddedScripts returns the bodies of quoted heredocs that start with a
// shebang: scripts the boot script writes to disk.
func embeddedScripts(script string) []string {
	var out []string
	lines := strings.Split(script, "\n")
	for i := 0; i < len(lines); i++ {
		_, marker, ok := strings.Cut(lines[i], "<<'")
		if !ok || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "#!") {
			continue
		}
		marker = strings.TrimSuffix(marker, "'")
		var body []string
		for i++; i < len(lines) && lines[i] != marker; i++ {
			body = append(body, lines[i])
		}
		out = append(out, strings.Join(body, "\n")+"\n")
	}
	return out
}

func TestUserDataDrainsLongerThanTheLoadBalancerNotices(t *testing.T) {
	t.Parallel()
	script := userDataCases(t)["userdata.sh"]
	lbNotices := spec.HealthCheckInterval * spec.UnhealthyThreshold
	if !(lbNotices < spec.AppDrain && spec.AppDrain < spec.ContainerStopTimeout && spec.ContainerStopTimeout < spec.SystemdStopTimeout) {
		t.Fatalf("drain chain out of order: LB notices %v, app drain %v, container stop %v, unit stop %v",
			lbNotices, spec.AppDrain, spec.ContainerStopTimeout, spec.SystemdStopTimeout)
	}
	for _, want := range []string{
		"--stop-timeout 40", "docker stop --time 40", "TimeoutStopSec=60", "Restart=always",
		"--env ZONE=${ZONE}", "--publish 8080:8080", "docker pull " + spec.DefaultImage,
		"--log-driver awslogs", "awslogs-group=/stayup/example/app", "X-aws-ec2-metadata-token",
		// The container starts and serves whatever CloudWatch Logs does.
		"--log-opt mode=non-blocking", "--log-opt max-buffer-size=4m",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	if strings.Contains(script, "ecr get-login-password") {
		t.Error("user data logs in to ECR for an image outside ECR")
	}
	if ecr := userDataCases(t)["userdata-ecr.sh"]; !strings.Contains(ecr, "--password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com") {
		t.Error("user data for an ECR image does not log in to its registry")
	}
}
