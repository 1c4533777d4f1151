package eval

import (
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 that survives JSON even when it is not finite:
// encoding/json refuses NaN and ±Inf, yet an evaluation must be able to say
// "no finite energy" (+Inf) or "not defined" (NaN) without failing the whole
// report. NaN is written as null, +Inf as the string "+Inf", -Inf as "-Inf";
// UnmarshalJSON reads all three back.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte("null"), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	switch s := string(b); s {
	case "null":
		*f = Float(math.NaN())
		return nil
	case `"+Inf"`, `"Inf"`:
		*f = Float(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = Float(math.Inf(-1))
		return nil
	default:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("eval: %q is not a number", s)
		}
		*f = Float(v)
		return nil
	}
}

// floats converts a slice for a report.
func floats(x []float64) []Float {
	if x == nil {
		return nil
	}
	out := make([]Float, len(x))
	for i, v := range x {
		out[i] = Float(v)
	}
	return out
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
