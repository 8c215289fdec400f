/** Linux errno values the host kernel model returns (as negative ioctl results). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ENXIO: 6,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
} as const;

const TEXT: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  6: "No such device or address",
  12: "Cannot allocate memory",
  14: "Bad address",
  16: "Device or resource busy",
  17: "File exists",
  19: "No such device",
  22: "Invalid argument",
  25: "Inappropriate ioctl for device",
  28: "No space left on device",
  75: "Value too large for defined data type",
  90: "Message too long",
  95: "Operation not supported",
  98: "Address already in use",
};

/** strerror(): the C library's text for an errno. */
export function strerror(errno: number): string {
  return TEXT[errno] ?? `Unknown error ${errno}`;
}

/** The errno named `name` (e.g. `EINVAL`), if known. */
export function errnoByName(name: string): number | undefined {
  return (Errno as Record<string, number>)[name];
}

/** The name of an errno (e.g. 22 → `EINVAL`). */
export function errnoName(errno: number): string {
  return Object.entries(Errno).find(([, v]) => v === errno)?.[0] ?? `E${errno}`;
}
