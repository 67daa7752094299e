{
  "targets": [
    {
      "target_name": "ferry_gcm",
      "sources": ["src/ferry-gcm.c", "src/gcm-vaes.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=c11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
