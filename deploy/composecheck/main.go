// composecheck loads compose.yaml with the Compose Specification's reference loader
// (compose-go, the library docker compose itself uses): interpolation from an env file,
// YAML anchors and merges, schema validation, normalisation. It prints the loaded
// project as JSON, or the loader's error and exits 1.
//
//	composecheck -f compose.yaml -env .env.example
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "compose.yaml", "compose file")
	envFile := flag.String("env", "", "env file for interpolation (as docker compose --env-file)")
	flag.Parse()
	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithName("transcode-flow"), cli.WithResolvedPaths(false)}
	if *envFile != "" {
		opts = append(opts, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	options, err := cli.NewProjectOptions([]string{*file}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := json.MarshalIndent(project, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
