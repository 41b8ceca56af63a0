package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/names"
)

// amdReader reads AMD GPUs through the amdgpu driver's sysfs files (no ROCm, no cgo): every
// <sysfs>/class/drm/cardN whose device is bound to amdgpu, into the same hw.* metrics as NVIDIA's.
type amdReader struct {
	root   string
	logger *zap.Logger
	start  time.Time
	found  int // GPUs found at the last scrape; said when it changes from 0
}

func newAMDReader(sysfsRoot string, logger *zap.Logger) *amdReader {
	if sysfsRoot == "" {
		sysfsRoot = "/sys"
	}
	return &amdReader{root: sysfsRoot, logger: logger, start: time.Now()}
}

func (*amdReader) Start(context.Context) error    { return nil }
func (*amdReader) Shutdown(context.Context) error { return nil }

var cardName = regexp.MustCompile(`^card[0-9]+$`)

func (a *amdReader) Scrape(_ context.Context, now time.Time, ms pmetric.MetricSlice) error {
	cards, _ := filepath.Glob(filepath.Join(a.root, "class", "drm", "card*"))
	sort.Strings(cards)
	out := newMetricSet(ms, pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(a.start))
	found := 0
	for _, card := range cards {
		if !cardName.MatchString(filepath.Base(card)) {
			continue // a connector (card0-DP-1)
		}
		dev := filepath.Join(card, "device")
		driver, err := os.Readlink(filepath.Join(dev, "driver"))
		if err != nil || filepath.Base(driver) != "amdgpu" {
			continue
		}
		found++
		a.readCard(strings.TrimPrefix(filepath.Base(card), "card"), dev, out)
	}
	if found > 0 && a.found == 0 {
		a.logger.Info("Reading AMD GPUs through sysfs", zap.Int("gpus", found), zap.String("sysfs_root", a.root))
	}
	a.found = found
	return nil
}

func (a *amdReader) readCard(index, dev string, out *metricSet) {
	attrs := deviceAttrs{vendor: "amd", index: index, name: readString(dev, "product_name")}
	attrs.id = readString(dev, "unique_id")
	if attrs.id == "" {
		attrs.id = ueventValue(dev, "PCI_SLOT_NAME")
	}
	if attrs.name == "" {
		attrs.name = "AMD GPU"
	}
	if v, ok := readNumber(dev, "gpu_busy_percent"); ok {
		out.record(names.HwGPUUtilization, attrs, v/100, "hw.gpu.task", "general")
	}
	if v, ok := readNumber(dev, "mem_busy_percent"); ok {
		out.record(names.HwGPUMemoryBusy, attrs, v/100)
	}
	used, okUsed := readNumber(dev, "mem_info_vram_used")
	total, okTotal := readNumber(dev, "mem_info_vram_total")
	if okUsed {
		out.record(names.HwGPUMemoryUsage, attrs, used)
	}
	if okTotal {
		out.record(names.HwGPUMemoryLimit, attrs, total)
	}
	if okUsed && okTotal && total > 0 {
		out.record(names.HwGPUMemoryUtilization, attrs, used/total)
	}
	hwmons, _ := filepath.Glob(filepath.Join(dev, "hwmon", "hwmon*"))
	for _, h := range hwmons {
		// power1_average (µW) where the card averages, power1_input otherwise.
		if v, ok := readNumber(h, "power1_average"); ok {
			out.record(names.HwPower, attrs, v/1e6)
		} else if v, ok := readNumber(h, "power1_input"); ok {
			out.record(names.HwPower, attrs, v/1e6)
		}
		if v, ok := readNumber(h, "energy1_input"); ok {
			out.record(names.HwEnergy, attrs, v/1e6) // µJ → J
		}
		hwmonInputs(h, "temp", func(sensor, label string, v float64) {
			if label == "" {
				label = sensor
			}
			out.record(names.HwTemperature, attrs, v/1000, "hw.sensor_location", label) // m°C → °C
		})
		hwmonInputs(h, "freq", func(_, label string, v float64) {
			switch label {
			case "sclk":
				label = "sm"
			case "mclk":
				label = "memory"
			}
			out.record(names.HwGPUClockFrequency, attrs, v, "hw.gpu.clock.type", label) // Hz
		})
	}
}

// hwmonInputs calls f for each readable <prefix>N_input of an hwmon folder, in name order, with its
// sensor name (<prefix>N), its <prefix>N_label ("" where there is none) and its value.
func hwmonInputs(h, prefix string, f func(sensor, label string, v float64)) {
	inputs, _ := filepath.Glob(filepath.Join(h, prefix+"*_input"))
	sort.Strings(inputs)
	for _, in := range inputs {
		file := filepath.Base(in)
		v, ok := readNumber(h, file)
		if !ok {
			continue
		}
		sensor := strings.TrimSuffix(file, "_input")
		f(sensor, readString(h, sensor+"_label"), v)
	}
}

func readString(dir, file string) string {
	b, err := os.ReadFile(filepath.Join(dir, file)) //nolint:gosec // G304: a sysfs attribute under gpu.sysfs_root, which the operator configures
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readNumber(dir, file string) (float64, bool) {
	s := readString(dir, file)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func ueventValue(dir, key string) string {
	for _, line := range strings.Split(readString(dir, "uevent"), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// readers runs several readers as one (NVIDIA through NVML, AMD through sysfs).
type readers []Reader

func (rs readers) Start(ctx context.Context) error {
	for _, r := range rs {
		if err := r.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (rs readers) Scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	for _, r := range rs {
		if err := r.Scrape(ctx, now, ms); err != nil {
			return err
		}
	}
	return nil
}

func (rs readers) Shutdown(ctx context.Context) error {
	for _, r := range rs {
		_ = r.Shutdown(ctx)
	}
	return nil
}
