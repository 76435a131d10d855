module github.com/mailferry/mailferry/services/mapping

go 1.26
