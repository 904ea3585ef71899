// Fixed identities Debian gives the packages we configure.

/** libvirt-qemu's uid and gid on Debian: owner of VM disks and folders on the volumes. */
export const LIBVIRT_QEMU_ID = 64055;
