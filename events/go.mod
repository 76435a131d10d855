module github.com/mailferry/mailferry/events

go 1.26
