/* SPDX-License-Identifier: MIT */
/*
 * aarch64-aapcs64.S — coroutine context switch for AArch64, AAPCS64 (Linux).
 *
 * Saved frame, 22 words = 176 bytes, built below the caller's sp (sp = what
 * *save_sp gets; AArch64 keeps sp 16-byte aligned at all times):
 *
 *       +--------+  higher addresses (= sp before the switch)
 *  168  |  pad   |  word 21
 *  160  |  pad   |  word 20
 *  152  |  x30   |  word 19: resume address (lr)  (CR_CTX_PC_SLOT  = 19)
 *  144  |  x29   |  word 18: frame pointer
 *  136  |  x28   |
 *  128  |  x27   |
 *  120  |  x26   |
 *  112  |  x25   |
 *  104  |  x24   |
 *   96  |  x23   |
 *   88  |  x22   |
 *   80  |  x21   |
 *   72  |  x20   |  word 9: new context: its argument   (CR_CTX_ARG_SLOT = 9)
 *   64  |  x19   |  word 8: new context: entry function (CR_CTX_FN_SLOT  = 8)
 *   56  |  d15   |
 *   48  |  d14   |
 *   40  |  d13   |
 *   32  |  d12   |
 *   24  |  d11   |
 *   16  |  d10   |
 *    8  |  d9    |
 *    0  |  d8    |  <- saved sp
 *       +--------+
 *
 * Only what AAPCS64 makes callee-saved is kept: x19-x28, x29, x30 and the low
 * 64 bits of v8-v15 (d8-d15). The caller of cr__ctx_switch already assumes
 * every other register is clobbered, including x16/x17/x18 and the upper
 * halves of v8-v15. FPCR (rounding mode etc.) is thread-wide state here and
 * is not switched (see lib/ctx.h); FPSR flags are caller-saved by the ABI.
 *
 * Resuming: we go back with `ret x30`, not `br x30`. Under BTI (Armv8.5,
 * -mbranch-protection=bti|standard, pages mapped PROT_BTI), a `br` must land
 * on a `bti j`/`bti jc` instruction, but the instruction after a caller's
 * `bl cr__ctx_switch` is no landing pad, so `br x30` would take a Branch
 * Target exception (SIGILL) in every BTI-enforcing process. `ret` sets no
 * branch type, so it may land anywhere. The cost is one return-stack
 * mispredict per switch, which a `br` would pay as an indirect-branch
 * predict instead. cr__ctx_entry still carries `bti j`, so it stays a valid
 * target if a future variant resumes through `br`.
 *
 * The saved x30 is stored unsigned (as with setjmp): code built with pac-ret
 * signs/authenticates its own lr in its own frame, which this does not touch.
 */
    .text
    .globl  cr__ctx_switch
    .hidden cr__ctx_switch
    .type   cr__ctx_switch, %function
    .p2align 4
/* void *cr__ctx_switch(void **save_sp [x0], void *to_sp [x1], void *transfer [x2]) */
cr__ctx_switch:
    .cfi_startproc
    bti     c
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     d8,  d9,  [sp, #0]
    stp     d10, d11, [sp, #16]
    stp     d12, d13, [sp, #32]
    stp     d14, d15, [sp, #48]
    stp     x19, x20, [sp, #64]
    stp     x21, x22, [sp, #80]
    stp     x23, x24, [sp, #96]
    stp     x25, x26, [sp, #112]
    stp     x27, x28, [sp, #128]
    stp     x29, x30, [sp, #144]
    /* From here on the frame at sp describes the suspended caller; after the
     * sp swap below the same rules describe the context being resumed, which
     * has the identical layout, so the CFI stays exact throughout. */
    .cfi_offset d8,  -176
    .cfi_offset d9,  -168
    .cfi_offset d10, -160
    .cfi_offset d11, -152
    .cfi_offset d12, -144
    .cfi_offset d13, -136
    .cfi_offset d14, -128
    .cfi_offset d15, -120
    .cfi_offset x19, -112
    .cfi_offset x20, -104
    .cfi_offset x21, -96
    .cfi_offset x22, -88
    .cfi_offset x23, -80
    .cfi_offset x24, -72
    .cfi_offset x25, -64
    .cfi_offset x26, -56
    .cfi_offset x27, -48
    .cfi_offset x28, -40
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     d8,  d9,  [sp, #0]
    ldp     d10, d11, [sp, #16]
    ldp     d12, d13, [sp, #32]
    ldp     d14, d15, [sp, #48]
    ldp     x19, x20, [sp, #64]
    ldp     x21, x22, [sp, #80]
    ldp     x23, x24, [sp, #96]
    ldp     x25, x26, [sp, #112]
    ldp     x27, x28, [sp, #128]
    ldp     x29, x30, [sp, #144]
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    mov     x0, x2
    ret     x30
    .cfi_endproc
    .size   cr__ctx_switch, .-cr__ctx_switch

    .globl  cr__ctx_entry
    .hidden cr__ctx_entry
    .type   cr__ctx_entry, %function
    .p2align 4
/* Reached from the resume above on a fresh frame (built by cr__ctx_make):
 * x19 = fn, x20 = arg, x29 = 0 (end of the frame-pointer chain), sp 16-aligned. */
cr__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30      /* no caller: CFI unwinders stop here */
    bti     j
    mov     x0, x20
    blr     x19
    brk     #0x3e8          /* fn must never return */
    .cfi_endproc
    .size   cr__ctx_entry, .-cr__ctx_entry

/* Tell the linker this object is BTI/PAC compatible when the rest of the build
 * is, so it does not drop the GNU_PROPERTY_AARCH64_FEATURE_1_AND marking of
 * the whole output. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define CR_FEATURE_BTI 1
#else
#define CR_FEATURE_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define CR_FEATURE_PAC 2
#else
#define CR_FEATURE_PAC 0
#endif
    .section .note.gnu.property, "a"
    .p2align 3
    .word   4                       /* n_namesz: "GNU\0" */
    .word   16                      /* n_descsz */
    .word   5                       /* n_type: NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4                       /* pr_datasz */
    .word   CR_FEATURE_BTI | CR_FEATURE_PAC
    .word   0                       /* pad to 8 bytes */
#endif

    .section .note.GNU-stack,"",%progbits
