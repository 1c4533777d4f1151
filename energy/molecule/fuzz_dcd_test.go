package molecule

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

var writeDCDSeeds = flag.Bool("dcd.writeseeds", false,
	"rewrite the seed corpus of FuzzReadDCD in testdata/fuzz/FuzzReadDCD (needs the Python environment and the reference data)")

// FuzzReadDCD reads arbitrary bytes as a DCD file: no panic, no allocation
// beyond what the data can back, and the reader's promises hold (frame count
// from the size, io.EOF or a truncation error exactly at the end, Seek
// reproducible).
func FuzzReadDCD(f *testing.F) {
	if *writeDCDSeeds {
		writeFuzzSeeds(f)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewDCDReader(bytes.NewReader(data), "fuzz.dcd")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.dcd: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		n, fs := r.NumFrames(), r.FrameSize()
		if r.NumAtoms() <= 0 || fs <= 0 {
			t.Fatalf("%d atoms, frame size %d", r.NumAtoms(), fs)
		}
		if got := r.lay.headerSize + int64(n)*fs + r.TornBytes(); got != int64(len(data)) || r.TornBytes() >= fs {
			t.Fatalf("header %d + %d frames × %d + torn %d != %d bytes", r.lay.headerSize, n, fs, r.TornBytes(), len(data))
		}
		var dst []Vec3
		if n > 0 {
			dst = make([]Vec3, r.NumAtoms())
		}
		var first []Vec3
		var firstErr error
		for k := 0; k <= n+1; k++ {
			var err error
			var pos []Vec3
			if k%2 == 0 {
				var fr Frame
				fr, err = r.Next()
				pos = fr.Positions
			} else {
				_, err = r.NextInto(dst)
				pos = dst
			}
			switch {
			case k < n:
				if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("fuzz.dcd: frame %d: ", k)) {
					t.Fatalf("frame %d: error does not name the frame: %v", k, err)
				}
				if err == nil {
					for i, p := range pos {
						for _, x := range p {
							if math.IsNaN(x) || math.IsInf(x, 0) {
								t.Fatalf("frame %d atom %d: %v returned without error", k, i, p)
							}
						}
					}
				}
				if k == 0 {
					first, firstErr = append([]Vec3(nil), pos...), err
				}
			case k == n && r.TornBytes() > 0:
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("frame %d of %d with %d torn bytes: %v, want ErrTruncated", k, n, r.TornBytes(), err)
				}
			default:
				if err != io.EOF {
					t.Fatalf("frame %d of %d: %v, want io.EOF", k, n, err)
				}
			}
		}
		if r.Seek(-1) == nil || r.Seek(n+1) == nil {
			t.Fatal("out-of-range Seek succeeded")
		}
		if n > 0 {
			if err := r.Seek(0); err != nil {
				t.Fatal(err)
			}
			fr, err := r.Next()
			if (err == nil) != (firstErr == nil) || err == nil && maxDiff(fr.Positions, first) != 0 {
				t.Fatalf("frame 0 again: %v, %v; first time %v", fr.Positions, err, firstErr)
			}
		}
	})
}

// writeFuzzSeeds writes the seed corpus: small valid files from OpenMM, gobg
// and the ala2 reference run, a byte-swapped one, truncated ones, and
// variants that must be refused.
func writeFuzzSeeds(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadDCD")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	tmp := f.TempDir()
	seeds := map[string][]byte{}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	tric := &[3]Vec3{{3.0, 0, 0}, {1.0, 2.8, 0}, {-0.9, 1.1, 2.6}}
	omPath := filepath.Join(tmp, "openmm.dcd")
	tr := randomTraj(21, 2, 3, tric)
	writeOpenMM(f, omPath, tr, DCDOptions{FirstStep: 100, Interval: 10, Timestep: 0.002}, false)
	seeds["openmm-triclinic"] = read(omPath)
	gp := filepath.Join(tmp, "gobg.dcd")
	g, err := CreateDCD(gp, 2, DCDOptions{Timestep: 0.004})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range randomTraj(22, 2, 2, nil).pos {
		if err := g.Write(p, nil); err != nil {
			f.Fatal(err)
		}
	}
	if err := g.Close(); err != nil {
		f.Fatal(err)
	}
	seeds["gobg-nocell"] = read(gp)

	ala := read(filepath.Join(testenv.SharedData(f), "md", "ala2", "traj.dcd"))
	ala = append([]byte(nil), ala[:276+2*288]...)
	binary.LittleEndian.PutUint32(ala[8:], 2)
	seeds["ala2-2frames"] = ala

	seeds["openmm-triclinic-bigendian"] = swapDCD(f, seeds["openmm-triclinic"], binary.LittleEndian)
	om := seeds["openmm-triclinic"]
	seeds["truncated-mid-frame"] = om[:len(om)-20]
	seeds["truncated-in-header"] = om[:150]
	xplor := append([]byte(nil), seeds["gobg-nocell"]...)
	binary.LittleEndian.PutUint32(xplor[4+4+4*19:], 0) // CHARMM version 0
	seeds["xplor"] = xplor
	deg := append([]byte(nil), om...)
	for k := 0; k < 2; k++ { // angles in degrees instead of cosines
		cell := deg[276+k*(56+3*(8+12))+4:]
		for _, i := range []int{1, 3, 4} {
			c := math.Float64frombits(binary.LittleEndian.Uint64(cell[8*i:]))
			binary.LittleEndian.PutUint64(cell[8*i:], math.Float64bits(math.Acos(c)*180/math.Pi))
		}
	}
	seeds["cell-degrees"] = deg
	b64 := make([]byte, 0, 120)
	b64 = binary.LittleEndian.AppendUint64(b64, 84)
	b64 = append(b64, "CORD"...)
	b64 = append(b64, make([]byte, 80)...)
	b64 = binary.LittleEndian.AppendUint64(b64, 84)
	seeds["64bit-markers"] = b64
	for name, data := range seeds {
		var sb strings.Builder
		fmt.Fprintf(&sb, "go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}
