// composecheck loads compose.yaml with the Compose Specification's reference loader
// (compose-go, the library docker compose itself uses): interpolation from an env file,
// YAML anchors and merges, schema validation, normalisation. It prints the loaded
// project as JSON, or the loader's error and exits 1.
//
// With -dockerfile it parses a Dockerfile with BuildKit's own parser instead and prints
// its stages (name, base image, last USER) as JSON.
//
//	composecheck -f compose.yaml -env .env.example
//	composecheck -dockerfile Dockerfile
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type stage struct {
	Name string `json:"name"`
	Base string `json:"base"`
	User string `json:"user"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func dockerfile(path string) {
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		fail(err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		fail(err)
	}
	out := []stage{}
	for _, s := range stages {
		st := stage{Name: s.Name, Base: s.BaseName}
		for _, cmd := range s.Commands {
			if u, ok := cmd.(*instructions.UserCommand); ok {
				st.User = u.User
			}
		}
		out = append(out, st)
	}
	text, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(text))
}

func main() {
	file := flag.String("f", "compose.yaml", "compose file")
	envFile := flag.String("env", "", "env file for interpolation (as docker compose --env-file)")
	df := flag.String("dockerfile", "", "parse this Dockerfile instead")
	flag.Parse()
	if *df != "" {
		dockerfile(*df)
		return
	}
	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithName("transcode-flow"), cli.WithResolvedPaths(false)}
	if *envFile != "" {
		opts = append(opts, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	options, err := cli.NewProjectOptions([]string{*file}, opts...)
	if err != nil {
		fail(err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		fail(err)
	}
	out, err := json.MarshalIndent(project, "", "  ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}
