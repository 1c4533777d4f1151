package molecule

import "strings"

// Element is a chemical element with the data gobg needs: mass in daltons and
// the single-bond covalent radius in nm (used to guess bonds for residues that
// have no template).
type Element struct {
	Symbol         string
	Name           string
	Number         int
	Mass           float64
	CovalentRadius float64
}

// Covalent radii: Cordero et al., Dalton Trans. 2008 (in nm); masses: IUPAC
// standard atomic weights as OpenMM uses them.
var elements = []*Element{
	{"H", "hydrogen", 1, 1.007947, 0.031},
	{"Li", "lithium", 3, 6.9412, 0.128},
	{"Be", "beryllium", 4, 9.0121823, 0.096},
	{"B", "boron", 5, 10.8117, 0.084},
	{"C", "carbon", 6, 12.01078, 0.076},
	{"N", "nitrogen", 7, 14.00672, 0.071},
	{"O", "oxygen", 8, 15.99943, 0.066},
	{"F", "fluorine", 9, 18.9984032, 0.057},
	{"Na", "sodium", 11, 22.989769, 0.166},
	{"Mg", "magnesium", 12, 24.30506, 0.141},
	{"P", "phosphorus", 15, 30.973762, 0.107},
	{"S", "sulfur", 16, 32.0655, 0.105},
	{"Cl", "chlorine", 17, 35.4532, 0.102},
	{"K", "potassium", 19, 39.09831, 0.203},
	{"Ca", "calcium", 20, 40.0784, 0.176},
	{"Mn", "manganese", 25, 54.938045, 0.139},
	{"Fe", "iron", 26, 55.8452, 0.132},
	{"Cu", "copper", 29, 63.5463, 0.132},
	{"Zn", "zinc", 30, 65.4094, 0.122},
	{"Se", "selenium", 34, 78.963, 0.120},
	{"Br", "bromine", 35, 79.9041, 0.120},
	{"I", "iodine", 53, 126.904473, 0.139},
}

var elementBySymbol = func() map[string]*Element {
	m := make(map[string]*Element, len(elements))
	for _, e := range elements {
		m[strings.ToUpper(e.Symbol)] = e
	}
	return m
}()

// ElementBySymbol looks an element up by symbol, case-insensitively; nil if unknown.
func ElementBySymbol(sym string) *Element {
	return elementBySymbol[strings.ToUpper(strings.TrimSpace(sym))]
}
