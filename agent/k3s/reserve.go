package k3s

import "fmt"

// Resources are a CPU and memory amount for the kubelet's reservations.
type Resources struct {
	MilliCPU  int64
	MemoryMiB int64
}

// Reservation is what the kubelet keeps back from pods
// (kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources).
type Reservation struct {
	// Kube is for the kubelet, containerd and k3s itself (kube-reserved).
	Kube Resources
	// System is for the operating system and corral-agent (system-reserved).
	System Resources
}

// SystemReserved is fixed: the node runs from RAM, and what the root
// filesystem's tmpfs overlay, the kernel and corral-agent hold does not grow
// with the machine.
var SystemReserved = Resources{MilliCPU: 100, MemoryMiB: 512}

// Reserved computes the reservation of a machine with cpus logical CPUs
// and memBytes of memory. kube-reserved follows the tiered formula the
// managed Kubernetes services publish (GKE's):
//
//	CPU:    6 % of the first core, 1 % of the second, 0.5 % of the third
//	        and fourth, 0.25 % of every further core;
//	memory: 25 % of the first 4 GiB, 20 % of the next 4 GiB, 10 % of the
//	        next 8 GiB, 6 % of the next 112 GiB, 2 % of the rest,
//	        and at least 256 MiB (k3s' agent alone uses about 275 MB).
//
// system-reserved is SystemReserved. A machine whose size is unknown (0)
// reserves nothing: the kubelet's defaults apply.
func Reserved(cpus int, memBytes uint64) Reservation {
	if cpus <= 0 || memBytes == 0 {
		return Reservation{}
	}
	// CPU in millicores, in tiers of cores.
	var milli float64
	for core := 1; core <= cpus; core++ {
		switch {
		case core == 1:
			milli += 60
		case core == 2:
			milli += 10
		case core <= 4:
			milli += 5
		default:
			milli += 2.5
		}
	}
	mib := float64(memBytes) / (1 << 20)
	tiers := []struct{ size, share float64 }{{4096, .25}, {4096, .20}, {8192, .10}, {112 * 1024, .06}}
	var mem float64
	rest := mib
	for _, t := range tiers {
		take := min(rest, t.size)
		mem += take * t.share
		rest -= take
	}
	mem += rest * .02
	return Reservation{
		Kube:   Resources{MilliCPU: int64(milli), MemoryMiB: max(int64(mem), 256)},
		System: SystemReserved,
	}
}

// KubeletArgs are the kubelet-arg entries for the reservation; none for a
// zero one.
func (r Reservation) KubeletArgs() []string {
	if r == (Reservation{}) {
		return nil
	}
	return []string{
		fmt.Sprintf("kube-reserved=cpu=%dm,memory=%dMi", r.Kube.MilliCPU, r.Kube.MemoryMiB),
		fmt.Sprintf("system-reserved=cpu=%dm,memory=%dMi", r.System.MilliCPU, r.System.MemoryMiB),
	}
}
