// Package view renders API objects as the text people read: kubectl-style
// tables from the server's meta.k8s.io Tables, describe layouts and event
// lists. Every function here is a pure function of its inputs (objects,
// options and the time "now"), so the commands that fetch the objects stay
// thin and the output can be checked against golden files.
package view
