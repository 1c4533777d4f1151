package energy

import (
	"fmt"
	"math"
)

// DefaultTemperature is the temperature in K that gobg works at unless told
// otherwise: that of its reference MD, the default of a training
// configuration (energy.temperature), of gobg simulate and mcmc and of
// plugin.MDConfig, and the one assumed for a model file that does not record
// the temperature it was trained at.
const DefaultTemperature = 300.0

// MolarGasConstant is R in kJ/mol/K, the value OpenMM uses
// (MOLAR_GAS_CONSTANT_R), so that reduced energies agree with OpenMM's.
const MolarGasConstant = 0.00831446261815324

// KT is the thermal energy R*T in kJ/mol at temperature T in K.
func KT(temperatureK float64) float64 { return MolarGasConstant * temperatureK }

// Reduced returns e/kT (dimensionless) for energies e in kJ/mol at
// temperature T in K. Non-finite energies stay non-finite.
func Reduced(e []float64, temperatureK float64) []float64 {
	kt := KT(temperatureK)
	u := make([]float64, len(e))
	for i, v := range e {
		u[i] = v / kt
	}
	return u
}

// CheckTemperature refuses a temperature that is not a finite number of
// kelvin above 0: kT = 0 makes every reduced energy infinite, and an
// infinite or NaN kT makes them meaningless. The error reads after the name
// of what was given ("--temperature must be ...").
func CheckTemperature(temperatureK float64) error {
	if !(temperatureK > 0) || math.IsInf(temperatureK, 0) {
		return fmt.Errorf("must be a finite temperature above 0 K, not %g", temperatureK)
	}
	return nil
}
