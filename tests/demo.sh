#!/bin/sh
# tests/demo.sh: boot Debian's kernel with a busybox initramfs under vmm and power off.
# On /dev/kvm directly when the host has it; otherwise inside a level-1 QEMU/TCG with nested SVM.
cd "$(dirname "$0")/.." || exit 2
. tests/nested/lib.sh
why=$(nested_check) || { echo "demo: $why" >&2; exit 2; }
l2_images || exit 2
APPEND="console=ttyS0 panic=-1 test=boot"
# A /dev/kvm without VMX/SVM in the CPU flags is a software hypervisor (kvm_pvm): it runs tiny
# guests but emulates a Linux kernel's CPL0 code instruction by instruction, and refuses some.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ -z "$DEMO_NESTED" ]; then
	exec ./vmm --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --append "$APPEND" --cpus 2 --timeout 300
fi
echo "demo: no hardware-virtualized /dev/kvm here: booting a level-1 Linux in QEMU/TCG first, then vmm inside it" >&2
mkdir -p build/demo
cat > build/demo/test.sh <<EOT
#!/bin/sh
/vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio --append "$APPEND" --cpus 2 --timeout 300 --stats
echo "vmm exited with status \$?"
EOT
chmod +x build/demo/test.sh
l1_initramfs build/demo/l1.cpio ./vmm:/vmm build/demo/test.sh:/test.sh \
	"$L2_BZIMAGE:/l2/bzImage" "$L2_INITRD:/l2/initrd.cpio" || exit 2
l1_run -t 600 build/demo/l1.cpio
