// Command stayup deploys a highly available container service with Pulumi
// and operates it. Run by the Pulumi engine it is the Pulumi program;
// run by a person it is the stayup command line.
package main

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra"
	"stayup/internal/cli"
)

func main() {
	// The engine sets PULUMI_MONITOR when it runs a program.
	if os.Getenv("PULUMI_MONITOR") != "" {
		pulumi.Run(infra.Program)
		return
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
