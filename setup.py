"""Builds and packages gobg's Python module, `import gobg`.

The Python package is pybridge/gobg; its Go half, the CPython extension
gobg._gobg, is generated from the Go package pybridge/gobgcore by gopy
(github.com/go-python/gopy) during the build, so `pip install .` and
`pip wheel .` at the repository root do the whole job. They need Go with cgo
and a C compiler, and the Python headers and libpython of the interpreter that
runs the build (Debian: python3-dev). gopy and goimports are taken from PATH or
$(go env GOPATH)/bin (scripts/setup.sh installs them there) and otherwise
built into build/_gopy/bin at the versions the build pins.

The build must run from the repository (go.mod beside this file): gopy
compiles a generated main package that imports gobg's Go packages.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
GO_PACKAGE = "github.com/gobg/gobg/pybridge/gobgcore"
GO_NAME = "gobgcore"  # the Go package name: gopy names its outputs after it
EXT_NAME = "gobg._gobg._" + GO_NAME
# goimports is not in tools.go, so it is pinned here: the golang.org/x/tools
# version go.mod already requires, which the module cache usually holds.
GOIMPORTS = "golang.org/x/tools/cmd/goimports@v0.36.0"
GOPY = "github.com/go-python/gopy"  # version from go.mod (tools.go)


def read_version():
    """The version is defined once, in the Go package (Version())."""
    src = (ROOT / "pybridge" / "gobgcore" / "gobgcore.go").read_text()
    m = re.search(r'^const version = "([^"]+)"', src, re.M)
    if not m:
        raise RuntimeError("pybridge/gobgcore/gobgcore.go: no `const version = \"...\"` line")
    return m.group(1)


def log(msg):
    print(f"[gobg build] {msg}", file=sys.stderr, flush=True)


class BuildPy(build_py):
    """build_py that starts from an empty build/lib/gobg: pip builds in the
    source tree, and setuptools would otherwise package files left there by
    an earlier build whose sources are gone."""

    def run(self):
        shutil.rmtree(Path(self.build_lib) / "gobg", ignore_errors=True)
        super().run()


class GopyExtension(Extension):
    """The extension gopy builds; setuptools only sees its name."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class BuildGopy(build_ext):
    """build_ext that runs `gopy build` and places its output in the package."""

    def build_extension(self, ext):
        if not isinstance(ext, GopyExtension):
            return super().build_extension(ext)
        if not (ROOT / "go.mod").exists():
            raise RuntimeError(f"gobg: no go.mod in {ROOT}: build from a clone of the gobg repository")
        env = self._go_env()
        gopy = self._tool("gopy", GOPY, env)
        self._tool("goimports", GOIMPORTS, env)
        # The output folder must lie inside the Go module (gopy's generated
        # main package imports gobg's packages through go.mod), and under a
        # folder whose name starts with "_" so that `go build ./...`,
        # `go vet ./...` and `go test ./...` skip the generated code.
        work = ROOT / "build" / "_gopy"
        work.mkdir(parents=True, exist_ok=True)
        out = Path(tempfile.mkdtemp(prefix="ext_", dir=work))
        try:
            cmd = [gopy, "build", f"-vm={sys.executable}", f"-output={out}", "-no-make",
                   "-symbols=false", GO_PACKAGE]
            t0 = time.monotonic()
            self._run(cmd, env)
            log(f"gopy build took {time.monotonic() - t0:.1f} s")
            sos = sorted(out.glob(f"_{GO_NAME}.*so")) + sorted(out.glob(f"_{GO_NAME}.*pyd"))
            if len(sos) != 1:
                raise RuntimeError(f"gopy build left {[p.name for p in sos]} in {out}, want one _{GO_NAME} extension")
            dest = Path(self.get_ext_fullpath(ext.name))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sos[0], dest)
            # gopy's Python side: the module wrapping the extension, the go
            # helpers it imports, and the package file.
            for name in self._py_files():
                shutil.copyfile(out / name, dest.parent / name)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def copy_extensions_to_source(self):
        # In-place builds (`pip install -e .`, `setup.py build_ext -i`) need
        # gopy's .py files beside the extension too.
        # The subpackage exists only as build output: create its folder first.
        build_py = self.get_finalized_command("build_py")
        ours = [ext for ext in self.extensions if isinstance(ext, GopyExtension)]
        for ext in ours:
            Path(build_py.get_package_dir(ext.name.rsplit(".", 1)[0])).mkdir(parents=True, exist_ok=True)
        super().copy_extensions_to_source()
        for ext in ours:
            built = (Path(self.build_lib) / self.get_ext_filename(ext.name)).parent
            src = Path(build_py.get_package_dir(ext.name.rsplit(".", 1)[0]))
            for name in self._py_files():
                shutil.copyfile(built / name, src / name)

    @staticmethod
    def _py_files():
        return ("__init__.py", "go.py", f"{GO_NAME}.py")

    def _go_env(self):
        env = dict(os.environ)
        env["CGO_ENABLED"] = "1"  # gopy builds a c-shared library
        # gopy runs `go build` in a git checkout; VCS stamping fails there in
        # sdists, containers with foreign owners and CI, and is not needed.
        flags = env.get("GOFLAGS", "")
        if "-buildvcs" not in flags:
            env["GOFLAGS"] = (flags + " -buildvcs=false").strip()
        go = shutil.which("go", path=env.get("PATH")) or (
            "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
        if go is None:
            raise RuntimeError("gobg: the Go toolchain (go) is not on PATH; install Go to build gobg")
        self._go = go
        gopath_bin = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, check=True,
                                    cwd=ROOT, env=env).stdout.strip().split(os.pathsep)[0]
        extra = [str(Path(go).parent), os.path.join(gopath_bin, "bin"), str(ROOT / "build" / "_gopy" / "bin")]
        env["PATH"] = os.pathsep.join(extra + [env.get("PATH", "")])
        return env

    def _tool(self, name, pkg, env):
        """Finds a Go tool on PATH (with GOPATH/bin), else builds it into
        build/_gopy/bin."""
        found = shutil.which(name, path=env["PATH"])
        if found:
            return found
        gobin = ROOT / "build" / "_gopy" / "bin"
        log(f"{name} not found: go install {pkg} into {gobin}")
        self._run([self._go, "install", pkg], dict(env, GOBIN=str(gobin)))
        return str(gobin / name)

    def _run(self, cmd, env):
        log(" ".join(cmd))
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"gobg: `{' '.join(cmd)}` failed (exit {p.returncode}):\n{p.stdout}")
        if self.verbose:
            print(p.stdout, file=sys.stderr)


setup(
    name="gobg",
    version=read_version(),
    description="Boltzmann generators for proteins, in Go: the Python module for OpenMM scripts",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=["gobg"],
    package_dir={"gobg": "pybridge/gobg"},
    ext_modules=[GopyExtension(EXT_NAME)],
    cmdclass={"build_py": BuildPy, "build_ext": BuildGopy},
    python_requires=">=3.9",
    install_requires=["numpy", "openmm>=8.1,<9"],
    zip_safe=False,
)
