package policy

import (
	"fmt"
	"io"
)

// Print writes findings for people: what to fix first, then the waived
// exceptions with their reasons, so nothing is hidden.
func Print(w io.Writer, findings []Finding) {
	var open, waived []Finding
	for _, f := range findings {
		if f.Waived == "" {
			open = append(open, f)
		} else {
			waived = append(waived, f)
		}
	}
	if len(open) == 0 {
		fmt.Fprintf(w, "Compliance: every rule passes (%d waived).\n", len(waived))
	} else {
		fmt.Fprintf(w, "Compliance: %d finding(s) to fix, %d waived.\n", len(open), len(waived))
	}
	for _, f := range open {
		fmt.Fprintf(w, "  %-8s %s: %s\n", f.Severity, f.Rule, f.Message)
	}
	for _, f := range waived {
		fmt.Fprintf(w, "  waived   %s: %s\n           (%s)\n", f.Rule, f.Message, f.Waived)
	}
}
