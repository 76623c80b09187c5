# The inputs icsrange gives every module (the module contract).

variable "exercise_id" {
  description = "Exercise id; name and label everything with it."
  type        = string
}

variable "teams" {
  description = "Team names. Each team gets its own copy of the plant."
  type        = list(string)
}

variable "plcs" {
  description = "The PLCs of one plant: which there are and where they sit. How each runs is in plc_args."
  type = list(object({
    id    = string
    model = string
    zone  = string
  }))
}

variable "hosts" {
  description = "Attacker, workstation and HMI hosts of one plant."
  type = list(object({
    id      = string
    role    = string
    zone    = string
    address = string
  }))
  default = []
}

variable "plc_args" {
  description = "The `icsrange plc` arguments per \"team/plc\", rendered by icsrange: everything but where the PLC listens and its token file. Run `icsrange plc --listen ADDR --mgmt ADDR --token-file FILE` followed by them."
  type        = map(list(string))
}

variable "ports" {
  description = "Free TCP ports icsrange picked per \"team/plc\": modbus and mgmt. Modules that give each PLC its own address may ignore them."
  type        = map(object({ modbus = number, mgmt = number }))
}

variable "mgmt_token_file" {
  description = "File holding the management API token the PLCs must require."
  type        = string
}

variable "icsrange_binary" {
  description = "Path of the icsrange binary to run."
  type        = string
}

variable "work_dir" {
  description = "Directory for pid and log files (inside the exercise's data dir)."
  type        = string
}

# This module's own inputs. Set them in a terraform.tfvars or *.auto.tfvars
# file next to this module (icsrange copies .tfvars files along with the
# .tf files) or as TF_VAR_name environment variables.

variable "image" {
  description = "The icsrange image to run: FROM scratch with the static binary as /icsrange (see Dockerfile). Build it on the Docker host, or the provider pulls it from a registry."
  type        = string
  default     = "icsrange:latest"
}

variable "docker_host" {
  description = "Docker daemon to use, e.g. unix:///var/run/docker.sock or ssh://user@host. null: DOCKER_HOST, else the local socket."
  type        = string
  default     = null
}

variable "publish_address" {
  description = "Docker host address the PLCs' Modbus ports (var.ports[*].modbus) are published on. 0.0.0.0 or a LAN address serves remote trainees."
  type        = string
  default     = "127.0.0.1"
}

variable "advertise_address" {
  description = "Host part of the Modbus endpoints in output plcs (what trainees and the engine dial). null: publish_address, or 127.0.0.1 when that is 0.0.0.0."
  type        = string
  default     = null
}

variable "mgmt_publish_address" {
  description = "Docker host address the management API ports (var.ports[*].mgmt) are published on. Keep it 127.0.0.1 unless the engine runs on another machine; never a trainee network."
  type        = string
  default     = "127.0.0.1"
}

variable "internal_zones" {
  description = "Zones whose networks are created internal (no route out of the Docker host)."
  type        = list(string)
  default     = ["control"]
}

variable "memory_mb" {
  description = "Memory limit per PLC container, in MB."
  type        = number
  default     = 128
}

variable "cpus" {
  description = "CPU limit per PLC container, in CPUs (e.g. \"0.25\")."
  type        = string
  default     = "0.5"
}
