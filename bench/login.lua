-- wrk script: POST a sign-in (used to keep 20 sign-ins in flight during a measurement).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"admin","password":"Bench-mark-password-2026"}'
