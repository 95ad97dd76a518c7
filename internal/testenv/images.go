package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Tags of the images built by BusyboxImage and HTTPDImage.
const (
	BusyboxTag = "slipway-test/busybox:1"
	HTTPDTag   = "slipway-test/httpd:1"
)

// HTTPDBody is what HTTPDImage serves at /.
const HTTPDBody = "hello from service"

// busyboxPaths are where Debian's busybox-static puts the binary (/bin is /usr/bin on a
// merged-/usr system).
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// hashLabel carries a digest of an image's build context, so a tag left by another version
// of the tests is rebuilt rather than reused.
const hashLabel = "slipway.testenv.context"

// BusyboxImage returns BusyboxTag: an image FROM scratch holding the host's static busybox at
// /bin/busybox with its applets linked into /bin (sh, wget, httpd, sleep, chown, …). No
// registry is needed: it is built through the Engine API from a tar made here, once per test
// binary, and an existing image of the same content is reused. It skips t (fails it under
// CI) when the host has no static busybox (Debian: apt-get install busybox-static).
func BusyboxImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	return BusyboxVariant(t, cli, BusyboxTag, "", nil)
}

// HTTPDImage returns HTTPDTag: BusyboxImage's content plus /www/index.html holding
// HTTPDBody, EXPOSE 80, and CMD busybox httpd in the foreground on port 80.
func HTTPDImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	return BusyboxVariant(t, cli, HTTPDTag,
		"COPY index.html /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
		map[string]string{"index.html": HTTPDBody + "\n"})
}

// BusyboxVariant builds tag like BusyboxImage, then applies the Dockerfile lines in extra,
// whose COPY instructions can use files (name → content). The first call for a tag in a test
// binary builds it; later calls return its result, whatever their extra and files.
func BusyboxVariant(t testing.TB, cli *client.Client, tag, extra string, files map[string]string) string {
	t.Helper()
	imagesMu.Lock()
	b, ok := images[tag]
	if !ok {
		b = &imageBuild{}
		images[tag] = b
	}
	imagesMu.Unlock()
	b.once.Do(func() {
		bin, err := findBusybox()
		if err != nil {
			b.missing = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b.err = buildImage(ctx, cli, tag, bin, extra, files)
	})
	if b.missing != nil {
		unavailable(t, "%v", b.missing)
	}
	if b.err != nil {
		t.Fatalf("testenv: build %s: %v", tag, b.err)
	}
	return tag
}

var (
	imagesMu sync.Mutex
	images   = map[string]*imageBuild{}
)

type imageBuild struct {
	once    sync.Once
	missing error // no busybox: skip
	err     error // build failed: fail
}

// findBusybox returns the content of a statically linked busybox on this machine.
func findBusybox() ([]byte, error) {
	for _, p := range busyboxPaths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			continue
		}
		static := !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if static {
			return data, nil
		}
	}
	return nil, fmt.Errorf("no statically linked busybox at %s (apt-get install busybox-static)", strings.Join(busyboxPaths, " or "))
}

// buildImage builds tag with the classic builder from an in-memory context, unless an image
// tagged so was built from the same context.
func buildImage(ctx context.Context, cli *client.Client, tag string, busybox []byte, extra string, files map[string]string) error {
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n" + extra
	all := map[string][]byte{"Dockerfile": []byte(dockerfile), "busybox": busybox}
	for name, content := range files {
		all[name] = []byte(content)
	}
	tarball, sum, err := contextTar(all)
	if err != nil {
		return err
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err == nil && img.Config != nil && img.Config.Labels[hashLabel] == sum {
		return nil
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect: %w", err)
	}
	res, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), client.ImageBuildOptions{
		Tags:        []string{tag},
		Labels:      map[string]string{hashLabel: sum},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		out.WriteString(m.Stream)
		if m.Error != nil {
			return fmt.Errorf("%s\n%s", m.Error.Message, out.String())
		}
	}
}

// contextTar makes a build context of files and returns it with a digest of its content.
func contextTar(files map[string][]byte) ([]byte, string, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	h := sha256.New()
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		mode := int64(0o644)
		if n == "busybox" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}
