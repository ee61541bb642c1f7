//! Builds the machine's device tree: /, /chosen, /memory, /cpus, /rtas, /vdevice, /interrupt-controller,
//! /event-sources, with the `ibm,*` properties Linux's pseries platform reads.
