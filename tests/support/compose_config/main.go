// compose-config prints the Compose model of one or more Compose files as JSON, loaded and merged
// by compose-go, the loader `docker compose` itself uses (what `docker compose config --format
// json` prints). tests/support/compose.py builds it once per machine, keyed by version.
//
//	compose-config [-project-name NAME] [-workdir DIR] FILE [FILE...]
//
// The environment used for interpolation is this process's environment, so tests control it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	name := flag.String("project-name", "shipshape", "project name")
	workdir := flag.String("workdir", "", "working directory (default: the first file's directory)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-config [-project-name NAME] [-workdir DIR] FILE [FILE...]")
		os.Exit(2)
	}
	fns := []cli.ProjectOptionsFn{cli.WithName(*name), cli.WithOsEnv, cli.WithInterpolation(true)}
	if *workdir != "" {
		fns = append(fns, cli.WithWorkingDirectory(*workdir))
	}
	options, err := cli.NewProjectOptions(flag.Args(), fns...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose-config:", err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose-config:", err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose-config:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
	fmt.Println()
}
