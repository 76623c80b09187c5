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

# This module's own input.

variable "bind_address" {
  description = "Address the PLCs' Modbus listeners bind; 0.0.0.0 serves remote trainees."
  type        = string
  default     = "127.0.0.1"
}
