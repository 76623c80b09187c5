package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"path"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// tokenVolume puts the token file in a volume every container mounts
// read-only at /run/icsrange: one copy (CopyToContainer into a container
// that is never started, which works with a remote daemon too) instead of
// one per container, each of which would mount and unmount its rootfs.
func tokenVolume(ctx context.Context, cli *client.Client, image string, base map[string]string, name, tok string) error {
	vc, cc := tokenVolumeConfig(image, base, name)
	if _, err := cli.VolumeCreate(ctx, vc); err != nil {
		return fmt.Errorf("create the token volume: %w", err)
	}
	c, err := cli.ContainerCreate(ctx, cc.Config, cc.Host, nil, nil, cc.Name)
	if err != nil {
		return fmt.Errorf("create the token volume: %w", err)
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	tt, err := tokenTar(tok)
	if err != nil {
		return err
	}
	if err := cli.CopyToContainer(ctx, c.ID, tokenDir, bytes.NewReader(tt), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy the token into its volume: %w", err)
	}
	return nil
}

// tokenTar is the token file as CopyToContainer takes it, relative to
// tokenDir. The processes
// run as root without CAP_DAC_OVERRIDE; owner nobody, group root and mode
// 0440 let them (and a process that switched to nobody) read it.
func tokenTar(tok string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	data := []byte(tok + "\n")
	for _, h := range []*tar.Header{
		{Name: path.Base(TokenPath), Typeflag: tar.TypeReg, Mode: 0o440, Uid: 65534, Gid: 0, Size: int64(len(data)), ModTime: now},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
