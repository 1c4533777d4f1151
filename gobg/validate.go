package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/train"
)

// Checks of flag values, shared by the commands so that every command
// refuses the same mistakes with the same words, before it does any work.
// A bad value is a usage mistake (errUsage: exit 2 with the help); a file
// that is missing or unreadable, or a folder that cannot take the output,
// is not (exit 1).

// firstErr returns the first non-nil error: commands list their checks in
// the order the flags appear in their help.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// positiveInt refuses a count below 1 (a batch of 0 never finishes, a
// negative one cannot be allocated).
func positiveInt(name string, v int) error {
	if v < 1 {
		return fmt.Errorf("%w: --%s must be at least 1, not %d", errUsage, name, v)
	}
	return nil
}

// nonNegativeInt refuses a negative count where 0 means "none" or "off".
func nonNegativeInt(name string, v int) error {
	if v < 0 {
		return fmt.Errorf("%w: --%s must be 0 or more, not %d", errUsage, name, v)
	}
	return nil
}

// positiveFloat refuses a value that is not a finite number above 0.
func positiveFloat(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("%w: --%s must be positive and finite, not %g", errUsage, name, v)
	}
	return nil
}

// finiteFloat refuses NaN and infinities.
func finiteFloat(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%w: --%s must be a finite number, not %g", errUsage, name, v)
	}
	return nil
}

// positiveTemp refuses a temperature flag that energy.CheckTemperature
// refuses.
func positiveTemp(name string, v float64) error {
	if err := energy.CheckTemperature(v); err != nil {
		return fmt.Errorf("%w: --%s %w", errUsage, name, err)
	}
	return nil
}

// inputFile refuses a path that does not name a readable regular file; the
// error names what the file is for ("--model") and the file.
func inputFile(what, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s %s: is a directory, not a file", what, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	return f.Close()
}

// inputDCD opens a trajectory, reads its header and refuses a file that
// ends inside a frame (molecule.OpenCompleteDCD); it is closed again.
func inputDCD(what, path string) error {
	if err := inputFile(what, path); err != nil {
		return err
	}
	r, err := molecule.OpenCompleteDCD(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return r.Close()
}

// writableOut checks that the file path can be written by a command that
// does not create folders: its folder exists and takes a new file, and path
// itself is not a folder. The error names what the file is for ("--out")
// and the folder.
func writableOut(what, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s: is a directory; give a file name", what, path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s %s: the folder %s does not exist (create it first)", what, path, dir)
	case err != nil:
		return fmt.Errorf("%s %s: folder %s: %w", what, path, dir, unwrapPathError(err))
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a folder", what, path, dir)
	}
	if err := canCreateIn(dir); err != nil {
		return fmt.Errorf("%s %s: cannot write in the folder %s: %w", what, path, dir, err)
	}
	return nil
}

// writableDir checks that dir can hold a command's output files, for a
// command that creates its output folder (and the folders above it): dir,
// or the nearest folder above it that exists, must be a folder that takes
// new entries. Nothing is created.
func writableDir(what, dir string) error {
	d := filepath.Clean(dir)
	for {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s %s: %s is a file, not a folder", what, dir, d)
			}
			if err := canCreateIn(d); err != nil {
				return fmt.Errorf("%s %s: cannot write in %s: %w", what, dir, d, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s %s: %w", what, dir, unwrapPathError(err))
		}
		up := filepath.Dir(d)
		if up == d {
			return fmt.Errorf("%s %s: no part of the path exists", what, dir)
		}
		d = up
	}
}

// canCreateIn creates and removes a file in dir: the only check that also
// sees read-only file systems and access-control lists.
func canCreateIn(dir string) error {
	f, err := os.CreateTemp(dir, ".gobg-write-check-*")
	if err != nil {
		return unwrapPathError(err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// unwrapPathError drops the operation and path of a *fs.PathError, which
// the messages above name in their own words.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// evalFiles checks gobg eval's files before the model is loaded: the model
// and the trajectories exist (each DCD's header read and its frames whole),
// the report's folder takes a file (the default report lies beside the
// model), and the plots folder can be made.
func evalFiles(modelPath string, data []string, report, plots string) error {
	if err := inputFile("--model", modelPath); err != nil {
		return err
	}
	for _, d := range data {
		if err := inputDCD("--data", d); err != nil {
			return err
		}
	}
	if report == "" {
		if err := writableOut("the report", trimExt(modelPath)+".eval.json"); err != nil {
			return fmt.Errorf("%w (it goes beside the model unless --out names another file)", err)
		}
	} else if err := writableOut("--out", report); err != nil {
		return err
	}
	if plots != "" {
		return writableDir("--plots", plots)
	}
	return nil
}

// trainInputs checks the files a training configuration reads, before
// training starts: the topology, every trajectory (whole frames only: a
// torn last frame would be dropped, or end the run when the reader reached
// it) and the initial model and System XML where given.
func trainInputs(cfg train.Config) error {
	errs := []error{inputFile("data.topology of the configuration", cfg.Data.Topology)}
	for _, p := range cfg.Data.Trajectories {
		errs = append(errs, inputDCD("data.trajectories of the configuration", p))
	}
	if cfg.InitModel != "" {
		errs = append(errs, inputFile("init_model of the configuration", cfg.InitModel))
	}
	if cfg.Energy.SystemXML != "" {
		errs = append(errs, inputFile("energy.system_xml of the configuration", cfg.Energy.SystemXML))
	}
	return firstErr(errs...)
}

// checkEnergyName refuses an energy provider other than native, openmm
// and, where allowed, none.
func checkEnergyName(name string, allowNone bool) error {
	switch strings.ToLower(name) {
	case "native", "openmm":
		return nil
	case "none":
		if allowNone {
			return nil
		}
	}
	if allowNone {
		return fmt.Errorf("%w: --energy %q: want native, openmm or none", errUsage, name)
	}
	return fmt.Errorf("%w: --energy %q: want native or openmm", errUsage, name)
}

// sampleOutName refuses a DCD name whose .pdb or .csv companion (written
// beside it with the extension replaced) would be the DCD itself.
func sampleOutName(out string) error {
	switch strings.ToLower(filepath.Ext(out)) {
	case ".pdb", ".csv":
		return fmt.Errorf("%w: --out %s: name the DCD (e.g. samples.dcd); the .pdb and .csv files are written beside it", errUsage, out)
	}
	return nil
}
