// Command cairn is the GitOps cluster appliance: API server, controllers,
// node agent and the read-only CLI in one binary.
package main

import (
	"os"

	"github.com/cairn-dev/cairn/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
