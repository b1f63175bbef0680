// Package pb is the Salesforce Pub/Sub API (package eventbus.v1) as
// generated from the official pubsub_api.proto, copied unchanged from
// github.com/forcedotcom/pub-sub-api at commit 0ba4701 (2024-09-03).
//
// The generated files are committed so that a build needs no protoc. They
// were generated with protoc 3.21.12 (Debian's protobuf-compiler),
// protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2:
//
//	apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	go generate ./salesforce/pubsub/pb
//
// The proto's go_package names Salesforce's sample module, so the M option
// maps the file to this package instead of editing the official file.
package pb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go_opt=Mpubsub_api.proto=github.com/billsync/billsync/salesforce/pubsub/pb;pb --go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mpubsub_api.proto=github.com/billsync/billsync/salesforce/pubsub/pb;pb pubsub_api.proto
