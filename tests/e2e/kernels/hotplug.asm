; hotplug: asks ombra (test device, port 0xe0) to add 2 MiB of RAM at
; 0x40000000 while it runs, writes and reads a pattern there, then has the
; slot deleted again.  Prints what it read; the end-to-end test checks it in
; both modes and that shadow mode zapped the frames' entries on the delete.
; (Not for QEMU, which has no such device: there the memory never appears.)
%include "mb.inc"

NEW equ 0x40000000

section .text
global _start
_start:
	mov esp, stack_top
	mov eax, NEW + 2                ; add a 2 MiB memslot at NEW
	mov dx, 0xe0
	out dx, eax
	mov dword [NEW], 0xfeedf00d
	mov dword [NEW + 0x1ff000], 0x600dcafe
	mov esi, s_read
	call puts
	mov eax, [NEW]
	call puthex
	mov al, ' '
	mov dx, COM1
	out dx, al
	mov eax, [NEW + 0x1ff000]
	call puthex
	call putnl
	mov eax, NEW + 1                ; delete it again
	mov dx, 0xe0
	out dx, eax
	mov esi, s_done
	call puts
	mov al, 0
	jmp exit

section .data
s_read: db "read ", 0
s_done: db "deleted", 10, 0
