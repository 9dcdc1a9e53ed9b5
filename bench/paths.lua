-- wrk script: GET a random path from the file given as first argument, with the bearer
-- token given as second argument.
local paths = {}
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
