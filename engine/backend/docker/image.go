package docker

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
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImageRepo is the repository of the images the backend builds; the tag is
// the first 12 hex digits of the binary's SHA-256, so an image is rebuilt
// only when the binary changes.
const ImageRepo = "icsrange"

// binaryLabel carries the full SHA-256 of the binary an image holds.
const binaryLabel = "icsrange.binary.sha256"

// dockerfile is the whole image: the static binary and nothing else. It
// runs as root with every capability dropped but CAP_NET_ADMIN (set per
// container), which the binary gives up itself once its routes are in; a
// non-root user could not get a capability from a FROM scratch image (no
// file capabilities without a shell or setcap to set them).
const dockerfile = `FROM scratch
COPY icsrange /icsrange
LABEL org.opencontainers.image.title="icsrange" org.opencontainers.image.description="icsrange plant container: PLC, host agent or router"
ENTRYPOINT ["/icsrange"]
`

// checkBinary makes sure the binary runs in a FROM scratch image on the
// daemon's architecture: a static Linux ELF for it.
func checkBinary(path string, bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%s is not a Linux binary (the docker backend needs a static linux icsrange binary: CGO_ENABLED=0 GOOS=linux go build ./cmd/icsrange): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; a FROM scratch image has no libc: build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	want := map[string]elf.Machine{"x86_64": elf.EM_X86_64, "amd64": elf.EM_X86_64, "aarch64": elf.EM_AARCH64, "arm64": elf.EM_AARCH64}[arch]
	if want != 0 && f.Machine != want {
		return fmt.Errorf("%s is built for %v but the Docker host is %s", path, f.Machine, arch)
	}
	return nil
}

// ensureImage builds the image from the binary unless it is there already,
// and returns its reference.
func (b *Backend) ensureImage(ctx context.Context, cli *client.Client) (string, error) {
	path := b.Binary
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			return "", fmt.Errorf("find the icsrange binary: %w", err)
		}
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the icsrange binary: %w", err)
	}
	sum := sha256.Sum256(bin)
	ref := ImageRepo + ":" + hex.EncodeToString(sum[:])[:12]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		b.logf("image %s is there", ref)
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	info, err := cli.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker info: %w", err)
	}
	if info.OSType != "" && info.OSType != "linux" {
		return "", fmt.Errorf("the Docker host runs %s containers; the docker backend needs linux", info.OSType)
	}
	if err := checkBinary(path, bin, info.Architecture); err != nil {
		return "", err
	}
	start := time.Now()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	now := time.Now()
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"icsrange", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{binaryLabel: hex.EncodeToString(sum[:])},
	})
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := readBuild(resp.Body); err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	b.logf("image %s built in %.1f s", ref, time.Since(start).Seconds())
	if n := pruneImages(ctx, cli, ref); n > 0 {
		b.logf("removed %d unused icsrange images of older binaries", n)
	}
	return ref, nil
}

// pruneAge is how old an image of another binary must be before a build
// removes it: a younger one may belong to an exercise starting right now
// (its containers not yet created, so the daemon would let it go).
const pruneAge = time.Hour

// pruneImages removes the images of older binaries that no container uses,
// so that upgrading the binary on a lab machine does not pile up images.
// An image a container still uses is refused by the daemon and stays;
// errors are not the build's concern.
func pruneImages(ctx context.Context, cli *client.Client, keep string) int {
	list, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("reference", ImageRepo), filters.Arg("label", binaryLabel))})
	if err != nil {
		return 0
	}
	removed := 0
	for _, im := range list {
		if slices.Contains(im.RepoTags, keep) || time.Since(time.Unix(im.Created, 0)) < pruneAge {
			continue
		}
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true}); err == nil {
			removed++
		}
	}
	return removed
}

// readBuild reads a build's JSON message stream to its end and returns the
// error it reports, if any.
func readBuild(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the build output: %w", err)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			tail = append(tail, s)
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
		if msg := m.ErrorDetail.Message; msg != "" || m.Error != "" {
			if msg == "" {
				msg = m.Error
			}
			return fmt.Errorf("%s (after: %s)", msg, strings.Join(tail, " | "))
		}
	}
}
