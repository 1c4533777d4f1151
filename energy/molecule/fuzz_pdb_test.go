package molecule

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// FuzzReadPDB: ReadPDB never panics; an error names the file; what it
// accepts is self-consistent, and WritePDB writes it so that ReadPDB reads
// back the same atoms. The seed corpus is testdata/fuzz/FuzzReadPDB (it runs
// under plain go test); fuzz with
//
//	go test ./energy/molecule -run '^$' -fuzz FuzzReadPDB -fuzztime 1m
func FuzzReadPDB(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadPDB(bytes.NewReader(data), "fuzz.pdb")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.pdb:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		top := p.Topology
		n := len(top.Atoms)
		if n == 0 || len(p.Models) == 0 {
			t.Fatalf("accepted with %d atoms and %d models", n, len(p.Models))
		}
		if err := top.checkIndices(); err != nil {
			t.Fatal(err)
		}
		for m, pos := range p.Models {
			if len(pos) != n {
				t.Fatalf("model %d has %d positions for %d atoms", m+1, len(pos), n)
			}
			for _, v := range pos {
				for _, x := range v {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						t.Fatalf("model %d has non-finite position %v", m+1, v)
					}
				}
			}
		}
		for k, b := range top.Bonds {
			if b.I >= b.J || b.J >= n || (k > 0 && !(top.Bonds[k-1].I < b.I || (top.Bonds[k-1].I == b.I && top.Bonds[k-1].J < b.J))) {
				t.Fatalf("bond %d %v: not sorted, unique, I<J and in range", k, b)
			}
		}
		for _, r := range top.Residues {
			if len(r.Atoms) == 0 {
				t.Fatalf("empty residue %s", r)
			}
		}

		var buf bytes.Buffer
		if err := WritePDB(&buf, top, p.Models, p.Box); err != nil {
			// The only things a valid read can hold that PDB cannot write:
			// coordinates beyond the 8 columns and cells CRYST1 cannot hold.
			if !strings.Contains(err.Error(), "does not fit in 8 columns") && !strings.Contains(err.Error(), "CRYST1") {
				t.Fatalf("cannot write what was read: %v", err)
			}
			return
		}
		q, err := ReadPDB(&buf, "rewritten.pdb")
		if err != nil {
			t.Fatalf("cannot read what was written: %v\n%s", err, buf.String())
		}
		if len(q.Topology.Atoms) != n || len(q.Topology.Residues) != len(top.Residues) ||
			len(q.Topology.Chains) != len(top.Chains) || len(q.Models) != len(p.Models) || (q.Box == nil) != (p.Box == nil) {
			t.Fatalf("rewritten file reads as %d atoms, %d residues, %d chains, %d models; was %d, %d, %d, %d",
				len(q.Topology.Atoms), len(q.Topology.Residues), len(q.Topology.Chains), len(q.Models),
				n, len(top.Residues), len(top.Chains), len(p.Models))
		}
		for i, a := range top.Atoms {
			b := q.Topology.Atoms[i]
			if a.Name != b.Name || a.Element != b.Element || a.Residue.Name != b.Residue.Name ||
				a.Residue.Number != b.Residue.Number || a.Residue.InsertionCode != b.Residue.InsertionCode ||
				a.Residue.Chain.ID != b.Residue.Chain.ID {
				t.Fatalf("atom %d changed: %s of %s -> %s of %s", i, a.Name, a.Residue, b.Name, b.Residue)
			}
		}
	})
}
