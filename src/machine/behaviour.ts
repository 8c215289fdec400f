/**
 * Which QEMU a machine behaves like: QEMU 7.2, or the code the 2016 thread on hot-plugged VFIO
 * devices and DMA windows fixed, combined with 7.2's window creation.
 */

import type { VfioBehaviour } from "../vfio/container.ts";

/** QEMU as it is today, or as the 2016 thread found it. */
export type Behaviour = VfioBehaviour;

/** Every behaviour, the default first. */
export const BEHAVIOURS: readonly Behaviour[] = ["qemu-7.2", "qemu-2016-prefix"];

/**
 * What `qemu-2016-prefix` takes from which code, for `iova run --help` and docs/semantics.md.
 * Keep the two in step.
 */
export const BEHAVIOUR_HELP = `--behaviour qemu-7.2 (default) plays QEMU 7.2. --behaviour qemu-2016-prefix
      plays the tree just before QEMU commit d78c19b5cf (May 2016) where the thread's bug lives:
      live H_PUT_TCE notifications carry absolute bus addresses, replay carries region-relative
      ones, VFIO adds no offset and its notifiers have no range, and replay walks the window at
      the container's smallest IOMMU page (4 KiB: one 64 KiB TCE gives 16 identical MAP_DMAs).
      That tree had no DDW and no host window list; window creation (the RTAS DDW calls, host
      windows created before replay) is 7.2's, as the series under review then did. On q35,
      VT-d keeps 7.2's replay (VFIO could not use it before QEMU 2.9); only the missing offset
      applies, and VT-d's region starts at bus address 0.`;
