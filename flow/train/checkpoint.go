package train

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/gobg/gobg/internal/atomicfile"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Checkpoint file layout: the line "gobg-checkpoint 1\n", a JSON header
// line (checkpointHeader), then the values of the variables the header
// lists, in its order, little-endian in each variable's dtype (the
// training dtype for the weights and Adam's moments). The header records
// the run state, with the training dtype, and the SHA-256 of those bytes.
const checkpointMagic = "gobg-checkpoint 1\n"

type checkpointHeader struct {
	State  state        `json:"state"`
	Vars   []ckptVarRec `json:"vars"`
	SHA256 string       `json:"sha256"`
}

type ckptVarRec struct {
	Scope string `json:"scope"`
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Dims  []int  `json:"dims"`
}

// ckptDTypes are the variable dtypes a checkpoint stores, with a function
// that makes a slice of n values of that type (for binary.Read).
var ckptDTypes = map[dtypes.DType]func(n int) any{
	dtypes.Float64: func(n int) any { return make([]float64, n) },
	dtypes.Float32: func(n int) any { return make([]float32, n) },
	dtypes.Int64:   func(n int) any { return make([]int64, n) },
	dtypes.Int32:   func(n int) any { return make([]int32, n) },
	dtypes.Uint64:  func(n int) any { return make([]uint64, n) },
}

// saveCheckpoint writes every variable of the flow's context (weights and
// optimizer state) and the run state to path atomically.
func (t *Trainer) saveCheckpoint(path string) (err error) {
	var h checkpointHeader
	h.State = t.st
	var data bytes.Buffer
	for v := range t.flow.Context().IterVariables() {
		if _, ok := ckptDTypes[v.DType()]; !ok {
			return fmt.Errorf("checkpoint: variable %s has dtype %s, which checkpoints do not store", v.ScopeAndName(), v.DType())
		}
		tv, err := v.Value()
		if err != nil {
			return fmt.Errorf("checkpoint: read %s: %w", v.ScopeAndName(), err)
		}
		var werr error
		tv.MustConstFlatData(func(flat any) { werr = binary.Write(&data, binary.LittleEndian, flat) })
		if werr != nil {
			return fmt.Errorf("checkpoint: %s: %w", v.ScopeAndName(), werr)
		}
		h.Vars = append(h.Vars, ckptVarRec{Scope: v.Scope(), Name: v.Name(), DType: v.DType().String(), Dims: slices.Clone(v.Shape().Dimensions)})
	}
	sum := sha256.Sum256(data.Bytes())
	h.SHA256 = hex.EncodeToString(sum[:])
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, checkpointMagic); err != nil {
			return err
		}
		if _, err := w.Write(append(hdr, '\n')); err != nil {
			return err
		}
		_, err := w.Write(data.Bytes())
		return err
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint restores the variables and the state. Variables the flow
// has are overwritten; the optimizer's are created.
func (t *Trainer) loadCheckpoint(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != checkpointMagic {
		return fmt.Errorf("resume: %s is not a gobg checkpoint", path)
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("resume: %s: header: %w", path, err)
	}
	var h checkpointHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("resume: %s: header: %w", path, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != h.SHA256 {
		return fmt.Errorf("resume: %s: data checksum mismatch (truncated or corrupt file)", path)
	}
	// A checkpoint resumes in its own dtype only: converting the weights and
	// moments would not continue the run as it was.
	ckptDT := h.State.DType
	if ckptDT == "" {
		ckptDT = DTypeFloat64 // written before checkpoints recorded it: float64 was the only one
	}
	if ckptDT != t.st.DType {
		return fmt.Errorf("resume: %s was written by a %s run, and this configuration trains in %s: set dtype to %q to resume it",
			path, ckptDT, t.st.DType, ckptDT)
	}
	if h.State.Config != t.st.Config {
		return fmt.Errorf("resume: %s was written by a run with another configuration (data, ic_mode, model, stages, seed or clip_norm differ)", path)
	}
	existing := map[string]bool{}
	for v := range t.flow.Context().IterVariables() {
		existing[v.Scope()+"\x00"+v.Name()] = true
	}
	off := 0
	ctx := t.flow.Context()
	for _, rec := range h.Vars {
		n := 1
		for _, d := range rec.Dims {
			n *= d
		}
		dt, ok := dtypeByName(rec.DType)
		if !ok {
			return fmt.Errorf("resume: %s: variable %s has unknown dtype %q", path, rec.Name, rec.DType)
		}
		size := n * dt.Size()
		if off+size > len(data) {
			return fmt.Errorf("resume: %s: variable %s runs past the end of the data", path, rec.Name)
		}
		vals := ckptDTypes[dt](n)
		if err := binary.Read(bytes.NewReader(data[off:off+size]), binary.LittleEndian, vals); err != nil {
			return fmt.Errorf("resume: %s: variable %s: %w", path, rec.Name, err)
		}
		off += size
		scope, name, key := rec.Scope, rec.Name, rec.Scope+"\x00"+rec.Name
		tv, err := fromFlat(vals, rec.Dims)
		if err != nil {
			return fmt.Errorf("resume: %s: %w", rec.Name, err)
		}
		if existing[key] {
			v := ctx.GetVariableByScopeAndName(scope, name)
			if v == nil {
				return fmt.Errorf("resume: variable %s not found", rec.Name)
			}
			if v.DType() != dt {
				return fmt.Errorf("resume: %s: variable %s is %s in the checkpoint and %s in the flow", path, rec.Name, dt, v.DType())
			}
			if !slices.Equal(v.Shape().Dimensions, rec.Dims) {
				return fmt.Errorf("resume: %s: variable %s has shape %v in the checkpoint and %v in the flow", path, rec.Name, rec.Dims, v.Shape().Dimensions)
			}
			if err := v.SetValue(tv); err != nil {
				return fmt.Errorf("resume: set %s: %w", rec.Name, err)
			}
			delete(existing, key)
			continue
		}
		ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, tv).SetTrainable(false)
	}
	if off != len(data) {
		return fmt.Errorf("resume: %s: %d bytes after the last variable", path, len(data)-off)
	}
	if len(existing) > 0 {
		return fmt.Errorf("resume: %s lacks %d of the flow's variables", path, len(existing))
	}
	cur := t.st.DType
	t.st = h.State
	t.st.DType = cur
	return nil
}

func dtypeByName(name string) (dtypes.DType, bool) {
	for dt := range ckptDTypes {
		if dt.String() == name {
			return dt, true
		}
	}
	return dtypes.InvalidDType, false
}

// fromFlat makes a tensor of dimensions dims from a flat slice.
func fromFlat(flat any, dims []int) (*tensors.Tensor, error) {
	switch v := flat.(type) {
	case []float64:
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case []float32:
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case []int64:
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case []int32:
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case []uint64:
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	}
	return nil, fmt.Errorf("unsupported data %T", flat)
}
