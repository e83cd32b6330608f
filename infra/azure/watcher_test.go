package azure_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"stayup/infra/azure"
	"stayup/infra/spec"
	"stayup/internal/testkit"
)

// watcherScript is the scheduled-events watcher as the shipped cloud-init
// writes it.
func watcherScript(t *testing.T) string {
	t.Helper()
	doc, err := azure.CloudInit(mustSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatal(err)
	}
	for _, f := range parsed.WriteFiles {
		if f.Path == "/etc/stayup/on-terminate.sh" {
			return f.Content
		}
	}
	t.Fatal("cloud-init writes no /etc/stayup/on-terminate.sh")
	return ""
}

// The stubs stand in for the instance metadata service (curl), the host
// firewall, systemd and sleep, and log each call in order. The metadata
// service answers the events document in $STUB/events until the watcher
// approves one, then an empty one: the event is over and this VM still up
// (a Reboot that has happened, say). The watcher then serves again, and
// the stub sleep ends the run at its next call. Scheduled Events documents
// as "Azure Metadata Service: Scheduled Events for Linux VMs" gives them
// (EventId, EventType, ResourceType, Resources, EventStatus, NotBefore) and
// approvals as a POST of {"StartRequests": [{"EventId": ...}]}.
var stubs = map[string]string{
	"curl": `#!/bin/bash
case "$*" in
*compute/name*) echo stayup_1 ;;
*--request\ POST*) echo "approve ${@: -2:1}" >>"$STUB/log"; touch "$STUB/approved" ;;
*scheduledevents*) if [ -e "$STUB/approved" ]; then echo '{"DocumentIncarnation": 3, "Events": []}'; else cat "$STUB/events"; fi ;;
*) exit 22 ;;
esac
`,
	"iptables":  "#!/bin/bash\necho \"iptables $*\" >>\"$STUB/log\"\n",
	"systemctl": "#!/bin/bash\necho \"systemctl $*\" >>\"$STUB/log\"\n",
	"sleep": `#!/bin/bash
echo "sleep $*" >>"$STUB/log"
if grep -q '^systemctl start' "$STUB/log"; then kill -TERM "$PPID"; fi
`,
}

func runWatcher(t *testing.T, events string) []string {
	t.Helper()
	testkit.Need(t, "jq")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "events"), []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "on-terminate.sh")
	if err := os.WriteFile(script, []byte(watcherScript(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STUB="+dir)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Error("the watcher did not come back to serving within 10 s")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func event(id, typ, status string, resources ...string) string {
	return fmt.Sprintf(`{"EventId": %q, "EventType": %q, "ResourceType": "VirtualMachine", "Resources": ["%s"], "EventStatus": %q, "NotBefore": "Mon, 30 Nov 2026 10:00:00 GMT"}`,
		id, typ, strings.Join(resources, `", "`), status)
}

// A container that exits at once on SIGTERM (hello-app) drops nothing only
// if the gateway has stopped sending it new requests first: the watcher
// refuses the gateway's new connections, waits longer than the gateway's
// probe needs to take the VM out, stops the container, and only then
// approves the event, for every event type that takes the VM away, and
// only for events that name this VM. Events for other VMs, Freeze and
// events already started are left alone.
func TestWatcherDrainsBeforeItApproves(t *testing.T) {
	t.Parallel()
	rule := "DOCKER-USER --source 10.20.0.0/24 --protocol tcp --match conntrack --ctstate NEW --ctorigdstport 8080 --jump REJECT --reject-with tcp-reset"
	wait := int(azure.DrainWait.Seconds())
	for _, typ := range []string{"Terminate", "Reboot", "Redeploy", "Preempt"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			events := `{"DocumentIncarnation": 2, "Events": [` + strings.Join([]string{
				event("other", typ, "Scheduled", "stayup_2"),
				event("freeze", "Freeze", "Scheduled", "stayup_1"),
				event("started", typ, "Started", "stayup_1"),
				event("ours", typ, "Scheduled", "stayup_0", "stayup_1"),
			}, ", ") + `]}`
			got := runWatcher(t, events)
			want := []string{
				"iptables --insert " + rule,
				fmt.Sprintf("sleep %d", wait),
				"systemctl stop stayup.service",
				`approve {"StartRequests": [{"EventId": "ours"}]}`,
				"iptables --delete " + rule,
				"systemctl start stayup.service",
				"sleep 5",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the watcher did\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// The wait covers what the gateway needs to take a VM out (probe interval
// x unhealthy threshold + a probe's timeout) with room for the watcher's
// poll, and fits the shortest notice an event gives: a Preempt comes 30 s
// ahead ("Scheduled Events for Linux VMs", Event properties, NotBefore).
func TestWatcherWaitFitsGatewayAndNotice(t *testing.T) {
	t.Parallel()
	gateway := spec.HealthCheckInterval*time.Duration(spec.UnhealthyThreshold) + spec.HealthCheckTimeout
	if azure.DrainWait < gateway+5*time.Second || azure.DrainWait > 30*time.Second {
		t.Errorf("drain wait %v: want the gateway's %v plus a poll, within a Preempt's 30 s notice", azure.DrainWait, gateway)
	}
}
