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
	return bootFile(t, "/etc/stayup/on-terminate.sh")
}

// bootFile is one file the shipped cloud-init writes.
func bootFile(t *testing.T, path string) string {
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
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("cloud-init writes no %s", path)
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
				"iptables --wait --insert " + rule,
				fmt.Sprintf("sleep %d", wait),
				"systemctl stop stayup.service",
				`approve {"StartRequests": [{"EventId": "ours"}]}`,
				"iptables --wait --delete " + rule,
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

// The block installs one REJECT per address in DOCKER-USER, the chain that
// sees forwarded (container) traffic and not the host's own, and run again
// (a Docker restart runs the unit again) adds no duplicate. The unit is
// bound to Docker and ordered before the container, which requires it.
func TestMetadataBlockedFromTheContainer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// iptables --check succeeds once the rule was inserted, as the real one.
	stub := `#!/bin/bash
all="$*"; rule="${all#--wait --check }"; rule="${rule#--wait --insert }"
case "$*" in
*--check*) grep -qxF "$rule" "$STUB/rules" 2>/dev/null ;;
*--insert*) echo "$rule" >>"$STUB/rules"; echo "iptables $*" >>"$STUB/log" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "iptables"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "metadata-block.sh")
	if err := os.WriteFile(script, []byte(bootFile(t, "/etc/stayup/metadata-block.sh")), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STUB="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the block failed: %v\n%s", err, out)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	want := "iptables --wait --insert DOCKER-USER --destination 169.254.169.254 --jump REJECT\n" +
		"iptables --wait --insert DOCKER-USER --destination 168.63.129.16 --jump REJECT\n"
	if string(b) != want {
		t.Errorf("two runs of the block did\n%s\nwant\n%s", b, want)
	}

	unit := bootFile(t, "/etc/systemd/system/stayup-metadata-block.service")
	for _, line := range []string{"BindsTo=docker.service", "After=docker.service", "Before=stayup.service", "WantedBy=docker.service", "RemainAfterExit=yes"} {
		if !strings.Contains(unit, line+"\n") {
			t.Errorf("the block's unit lacks %s", line)
		}
	}
	container := bootFile(t, "/etc/systemd/system/stayup.service")
	if !strings.Contains(container, "Requires=docker.service stayup-metadata-block.service\n") ||
		!strings.Contains(container, "After=docker.service stayup-metadata-block.service ") {
		t.Error("stayup.service may start before the block is in place")
	}
}
