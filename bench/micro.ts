/** Entry point of `make bench-micro`: runs every micro-benchmark in bench/ (each prints its figures). */
import './micro-vfp.js';
