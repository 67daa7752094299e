;; FastCDC "fastcdc-v1" cut loop in WebAssembly: the same rule as `nextCut` in fastcdc.ts,
;; two bytes per step, cutting at exactly the same places (tests compare it with
;; `nextCutReference`). Assembled by scripts/build-wasm.mjs into fastcdc-wasm.ts.
;;
;; Memory is imported so that the host sizes it once, at creation, and never has to grow
;; it (growing would detach every view handed out). Layout, fixed by cdc-kernel.ts:
;;   [0, 1024)     GEAR, 256 x i32 (little-endian)
;;   [1024, 2048)  GEAR << 1, 256 x i32: the even byte of each pair uses it, so that the
;;                 pair costs one shift by two instead of two shifts
;;   [4096, ...)   data area, owned by the host
(module
  (import "env" "memory" (memory 1))

  ;; Length of the chunk starting at $p, given that $n bytes are usable (n = min(available,
  ;; max), n > min), cuts are never before $min, $maskS applies before $normal (= min(n, avg))
  ;; and $maskL after it. Returns $n when no cut point is found. The host handles the cases
  ;; that need no scan (too little data, last short chunk).
  (func (export "cut")
    (param $p i32) (param $n i32) (param $min i32) (param $normal i32)
    (param $maskS i32) (param $maskL i32)
    (result i32)
    (local $i i32) (local $h i32) (local $normalLast i32) (local $last i32)
    (local $maskSLs i32) (local $maskLLs i32)
    ;; The even byte's hash is tested after a shift by one less than the odd byte's, so
    ;; its mask is shifted too; masks leave bit 31 clear so no tested bit is lost.
    (local.set $maskSLs (i32.shl (local.get $maskS) (i32.const 1)))
    (local.set $maskLLs (i32.shl (local.get $maskL) (i32.const 1)))
    ;; The gear hash needs no warm-up: after 32 bytes nothing of the earlier state is left,
    ;; and the masks look at bits below 31 only.
    (local.set $i (i32.add (local.get $p) (local.get $min)))
    ;; Pairs run while both bytes are before the limit: i < limit - 1.
    (local.set $normalLast (i32.sub (i32.add (local.get $p) (local.get $normal)) (i32.const 1)))
    (local.set $last (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 1)))

    ;; Below avg: the stricter mask (normalization makes short chunks rare).
    (block $smallDone
      (loop $small
        (br_if $smallDone (i32.ge_u (local.get $i) (local.get $normalLast)))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 2))
          (i32.load offset=1024 (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskSLs)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 1)))))
        (local.set $h (i32.add (local.get $h)
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $small)))
    ;; An odd byte left before avg is hashed alone, with the one-byte rule.
    (if (i32.eq (local.get $i) (local.get $normalLast))
      (then
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))))

    ;; From avg to max: the looser mask.
    (block $largeDone
      (loop $large
        (br_if $largeDone (i32.ge_u (local.get $i) (local.get $last)))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 2))
          (i32.load offset=1024 (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskLLs)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 1)))))
        (local.set $h (i32.add (local.get $h)
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $large)))
    (if (i32.eq (local.get $i) (local.get $last))
      (then
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (return (i32.add (i32.sub (local.get $i) (local.get $p)) (i32.const 1)))))))
    (local.get $n))
)
