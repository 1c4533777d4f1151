package main

import (
	"flag"
	"fmt"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/flow/generator"
)

// temperatureHelp is the --temperature help of the commands that take a
// model: their default is the temperature the model was trained at.
var temperatureHelp = fmt.Sprintf("temperature in `K` (default: the one the model was trained at, which the model file records; %g for older files)",
	energy.DefaultTemperature)

// addTemperatureFlag declares --temperature of a command that takes a
// model: 0 until given, the model's temperature by default.
func addTemperatureFlag(fs *flag.FlagSet, help string) *float64 {
	return fs.Float64("temperature", 0, help)
}

// optionalTemp checks --temperature where the command line gives it (its
// default is the model's, known only once the model is loaded).
func optionalTemp(set map[string]bool, v float64) error {
	if !set["temperature"] {
		return nil
	}
	return positiveTemp("temperature", v)
}

// modelTemperature is the temperature a command works at with generator g:
// --temperature where given, else the model's training temperature. It
// prints a warning line where that is not the model's, or where the model
// file does not record its temperature.
func modelTemperature(env *cmdEnv, g *generator.Generator, set map[string]bool, given float64) float64 {
	t, _ := g.Temperature()
	if set["temperature"] {
		t = given
	}
	if w := g.TemperatureWarning(t); w != "" {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	return t
}
